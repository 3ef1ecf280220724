// Gateway: the MCP gateway (gateway/main.ts, a child process of its own)
// in front of the `real` server, serving the P1 toolset's live endpoint as a
// public MCP endpoint. Sessions are the light raw-HTTP clients of
// bench/lib/mcp-raw.ts in this process (the SDK clients' requests, not their
// objects), so that a thousand fit beside the load generator.
//
// - RSS (VmRSS) of a fresh gateway idle, with the endpoint open (one session of
//   each era), with GW_SESSIONS sessions (half 2025-11-25 sessions with their
//   GET stream, half 2026-07-28 subscriptions/listen streams), and after they
//   closed.
// - list_changed delivery: GW_LISTENERS sessions of each era listening on the
//   live endpoint; GW_PUBLISHES times a staging edit (a tool's description) and
//   PublishStagingVersion; per session the time from the publish's answer to
//   the arrival of notifications/tools/list_changed.
// - tools/list through the gateway (a session of each era) against
//   ResolveToolset of the same endpoint direct (Connect JSON, full body), both
//   anonymous, on HTTP/1.1 keep-alive: the same number of requests on 1 and on
//   16 connections, in interleaved rounds (A B C, C B A, …).
//
// The section makes the P1 toolset's endpoint public and publishes it
// GW_PUBLISHES + 1 times, so it runs last.
import { Agent } from "node:http";
import { ReleaseService } from "../gen/releases/v1/releases_pb.js";
import { urn } from "../server/testing/fixtures.js";
import type { BenchContext } from "./lib/context.js";
import { closedLoop, connect, encodeCall, etagField, merge, rate, StreamSessions, type Call, type Connection, type LoadResult } from "./lib/load.js";
import {
  closeLegacySession,
  ERAS,
  messagesOf,
  openLegacySession,
  openNotificationStream,
  toolsListCall,
  type Era,
  type EventStream,
} from "./lib/mcp-raw.js";
import { options } from "./lib/options.js";
import { startGateway, type ChildServer } from "./lib/processes.js";
import { add, bytes, ms, n0, progress, ratio } from "./lib/report.js";
import { percentile, sorted } from "./scratch.js";

function knob(name: string, full: number, quick: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return options.quick ? quick : full;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return n;
}

const KNOBS = {
  /** Sessions open for the RSS reading, half of each era. */
  sessions: knob("GW_SESSIONS", 1000, 100),
  /** Listening sessions of each era for the list_changed delivery. */
  listeners: knob("GW_LISTENERS", 100, 100),
  publishes: knob("GW_PUBLISHES", 10, 2),
  /** tools/list and ResolveToolset requests per client and round, on 1 connection and on 16. */
  sequential: knob("GW_SEQUENTIAL", 200, 60),
  concurrent: knob("GW_CONCURRENT", 600, 200),
  concurrency: knob("GW_CONCURRENCY", 16, 16),
};

const MCP_SLUG = "bench";
const DELIVERY_TIMEOUT_MS = 5_000;
/** Sessions opened at once. */
const OPENING = 16;
const settle = (msec: number) => new Promise((r) => setTimeout(r, msec));
const mib = (x: number) => `${x.toFixed(1)} MiB`;
const kibEach = (deltaMiB: number, n: number) => `${((deltaMiB * 1024) / n).toFixed(1)} KiB each`;

/** Throws when the gateway process is gone (a crash fails the run; its requests alone would only count as errors). */
function checkAlive(gw: ChildServer): void {
  let rss = NaN;
  try {
    rss = gw.rssMiB();
  } catch {
    // no /proc entry: exited and reaped
  }
  if (!Number.isFinite(rss)) throw new Error("the gateway process exited");
}

async function until(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) return false;
    await settle(1);
  }
  return true;
}

/** `fn` for 0 … n-1, OPENING at a time. */
async function pool<T>(n: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(OPENING, n) }, async () => {
      for (let i = next++; i < n; i = next++) out[i] = await fn(i);
    }),
  );
  return out;
}

/** A session of the gateway: its id (2025-11-25) and, when listening, its notification stream. */
interface Session {
  era: Era;
  id?: string;
  stream?: EventStream;
  /** Arrival times of notifications/tools/list_changed, performance.now(). */
  changes: number[];
}

/** Opens sessions on one gateway and closes them all at the end. */
class Sessions {
  readonly all: Session[] = [];
  private agent = new Agent({ keepAlive: true, maxSockets: OPENING });
  private closing = false;
  /** The first stream that ended while open, for the report. */
  lostStream: string | undefined;

  constructor(
    private readonly gw: ChildServer,
    private readonly path: string,
    /** Sent with every request (an Authorization for a staging endpoint). */
    private readonly headers: Record<string, string> = {},
  ) {}

  /** `n` sessions of `era`, each with its notification stream live when `listen`. */
  async open(era: Era, n: number, listen: boolean): Promise<Session[]> {
    return pool(n, async () => {
      const s: Session = { era, changes: [] };
      this.all.push(s);
      if (era === "2025-11-25") s.id = await openLegacySession(this.agent, this.gw.port, this.path, this.headers);
      if (listen) {
        s.stream = openNotificationStream(
          era,
          this.gw.port,
          this.path,
          s.id,
          (method, at) => {
            if (method === "notifications/tools/list_changed") s.changes.push(at);
          },
          this.headers,
        );
        void s.stream.ended.then((why) => {
          if (!this.closing) this.lostStream ??= `a ${era} stream ended: ${why}`;
        });
        await s.stream.opened;
      }
      return s;
    });
  }

  /** Ends every stream and DELETEs every 2025-11-25 session (so that none lingers in the gateway until its idle timeout). */
  async close(): Promise<void> {
    this.closing = true;
    for (const s of this.all) s.stream?.close();
    await pool(this.all.length, async (i) => {
      const s = this.all[i]!;
      if (s.id !== undefined) await closeLegacySession(this.agent, this.gw.port, this.path, s.id, this.headers);
    });
    this.all.length = 0;
    this.agent.destroy();
    this.agent = new Agent({ keepAlive: true, maxSockets: OPENING });
    this.closing = false;
  }
}

async function rssPart(ctx: BenchContext, gw: ChildServer, path: string): Promise<void> {
  const half = Math.max(2, Math.floor(KNOBS.sessions / 2));
  const pause = options.quick ? 1_000 : 2_000;
  const sessions = new Sessions(gw, path);
  const staging = new Sessions(gw, `${path}/staging`, ctx.main.auth.headers);
  try {
    await settle(pause);
    const idle = gw.rssMiB();
    add({ bench: "Gateway", case: "RSS of the gateway process, idle (after start)", figure: mib(idle) });

    await sessions.open("2025-11-25", 1, true);
    await sessions.open("2026-07-28", 1, true);
    await settle(pause);
    const endpoint = gw.rssMiB();
    add({
      bench: "Gateway",
      case: `RSS with the live endpoint open (its watch and served state, ${n0(ctx.main.tools)} tools; first use): 1 session of each era`,
      figure: mib(endpoint),
      baseline: `${mib(idle)} idle`,
    });
    // A second endpoint of the same size (…/staging, with a key): what one more endpoint costs, without the first use.
    await staging.open("2025-11-25", 1, true);
    await settle(pause);
    const second = gw.rssMiB();
    add({
      bench: "Gateway",
      case: `RSS with a second endpoint open (…/staging, key, ${n0(ctx.main.tools)} tools): 1 session (${mib(second - endpoint)} more)`,
      figure: mib(second),
      baseline: `${mib(endpoint)} with one`,
    });

    progress(`Gateway: opening ${n0(half - 1)} more 2025-11-25 sessions with their GET stream`);
    await sessions.open("2025-11-25", half - 1, true);
    await settle(pause);
    const legacy = gw.rssMiB();
    add({
      bench: "Gateway",
      case: `RSS with ${n0(half)} 2025-11-25 sessions (live endpoint), GET stream open (${kibEach(legacy - second, half - 1)})`,
      figure: mib(legacy),
      baseline: `${mib(second)} with 1`,
    });

    progress(`Gateway: opening ${n0(half - 1)} more 2026-07-28 subscriptions/listen streams`);
    await sessions.open("2026-07-28", half - 1, true);
    await settle(pause);
    const both = gw.rssMiB();
    add({
      bench: "Gateway",
      case: `RSS with ${n0(half)} 2026-07-28 listen streams besides (${kibEach(both - legacy, half - 1)})`,
      figure: mib(both),
      baseline: `${mib(legacy)} before`,
    });
    add({
      bench: "Gateway",
      case: `RSS with ${n0(2 * half)} sessions, ${n0(half)} of each era (${kibEach(both - second, 2 * half - 2)} over the endpoints open)`,
      figure: mib(both),
      baseline: `${mib(idle)} idle`,
      ratio: ratio(both / idle),
    });
    const lost = sessions.lostStream ?? staging.lostStream;
    if (lost !== undefined) throw new Error(lost);

    await sessions.close();
    await staging.close();
    await settle(pause);
    const after = gw.rssMiB();
    add({ bench: "Gateway", case: `RSS after the ${n0(2 * half + 1)} sessions closed`, figure: mib(after), baseline: `${mib(both)} with them` });
  } finally {
    await sessions.close().catch(() => undefined);
    await staging.close().catch(() => undefined);
  }
}

async function deliveryPart(ctx: BenchContext, gw: ChildServer, path: string): Promise<void> {
  const main = ctx.main;
  const sessions = new Sessions(gw, path);
  // The baseline: a WatchToolset stream of the same endpoint on the service direct (what the gateway itself watches).
  const watchSessions = new StreamSessions(ctx.real.port);
  const watched = new Map<string, number>();
  let watchEnd: string | undefined;
  const watch = watchSessions.open(
    encodeCall("grpc-h2c", ReleaseService.method.watchToolset, { organization: main.tenant.org, project: main.project, mcpSlug: MCP_SLUG }),
    (message, at) => {
      const etag = etagField(message);
      if (etag !== "" && !watched.has(etag)) watched.set(etag, at);
    },
  );
  void watch.done.then(({ grpcStatus, message }) => (watchEnd ??= `WatchToolset ended: grpc-status ${grpcStatus} ${message}`));
  try {
    progress(`Gateway: ${KNOBS.listeners} listening sessions of each era, ${KNOBS.publishes} publishes`);
    if (!(await until(() => watched.size > 0 || watchEnd !== undefined, DELIVERY_TIMEOUT_MS))) throw new Error("WatchToolset: no first message");
    if (watchEnd !== undefined) throw new Error(watchEnd);
    for (const era of ERAS) await sessions.open(era, KNOBS.listeners, true);
    await settle(200);
    const delays = new Map<Era, number[]>(ERAS.map((e) => [e, []]));
    /** Per publish, the first to the last session's arrival. */
    const spreads = new Map<Era, number[]>(ERAS.map((e) => [e, []]));
    const publish: number[] = [];
    const direct: number[] = [];
    const last = urn(`tool_${main.tools - 1}`);
    for (let k = 0; k < KNOBS.publishes; k++) {
      // A change of what tools/list shows: the last tool's description, in the staging copy.
      await ctx.clients.toolsets.upsertToolVariation(
        {
          project: main.project,
          scope: { toolsetSlug: main.slug, staging: true },
          variation: { srcToolUrn: last, description: `Bench edit ${k + 1}` },
        },
        main.auth,
      );
      const seen = sessions.all.map((s) => s.changes.length);
      const t0 = performance.now();
      const { etag } = await main.publish(ctx.clients);
      const t1 = performance.now();
      publish.push(t1 - t0);
      await until(() => watched.has(etag) && sessions.all.every((s, i) => s.changes.length > seen[i]!), DELIVERY_TIMEOUT_MS);
      const w = watched.get(etag);
      if (w !== undefined) direct.push(Math.max(0, w - t1));
      const arrivals = new Map<Era, number[]>(ERAS.map((e) => [e, []]));
      sessions.all.forEach((s, i) => {
        const at = s.changes[seen[i]!];
        if (at === undefined) return;
        // A notification may beat the publish's answer to this process: 0, as P4 counts it.
        delays.get(s.era)!.push(Math.max(0, at - t1));
        arrivals.get(s.era)!.push(at);
      });
      for (const [era, a] of arrivals) if (a.length > 0) spreads.get(era)!.push(Math.max(...a) - Math.min(...a));
      await settle(50);
    }
    const pub = sorted(publish);
    const dw = sorted(direct);
    for (const era of ERAS) {
      const d = sorted(delays.get(era)!);
      const expected = KNOBS.listeners * KNOBS.publishes;
      const stream = era === "2025-11-25" ? "GET stream" : "subscriptions/listen";
      add({
        bench: "Gateway",
        case: `publish → notifications/tools/list_changed on ${KNOBS.listeners} ${era} sessions (${stream}) · p50 / p99 after the publish answered · ${KNOBS.publishes} publishes`,
        figure: `${ms(percentile(d, 50))} / ${ms(percentile(d, 99))} · ${n0(d.length)} of ${n0(expected)} delivered${d.length < expected ? ` (${DELIVERY_TIMEOUT_MS} ms wait)` : ""} · first → last session ${ms(percentile(sorted(spreads.get(era)!), 50))}`,
        baseline: `WatchToolset direct ${ms(percentile(dw, 50))} / ${ms(percentile(dw, 99))}${dw.length < KNOBS.publishes ? ` (${dw.length} of ${KNOBS.publishes})` : ""}; publish ${ms(percentile(pub, 50))} / ${ms(percentile(pub, 99))}`,
        ratio: ratio(percentile(d, 50) / percentile(dw, 50)),
      });
    }
    if (sessions.lostStream !== undefined) throw new Error(sessions.lostStream);
  } finally {
    watchEnd ??= "closed";
    watch.close();
    watchSessions.close();
    await sessions.close().catch(() => undefined);
  }
}

/** `total` requests on the connections, one in flight on each, connection i always sending calls[i]. */
function runFixed(conns: Connection[], calls: Call[], total: number): Promise<LoadResult> {
  return closedLoop(
    conns,
    (i) => calls[i]!,
    (made) => made < total,
  );
}

function errorsOf(r: LoadResult): string {
  return r.errors === 0 ? "" : ` (${r.errors} of ${r.calls} failed: ${r.firstError ?? "?"})`;
}

/** The tools an answer lists: tools/list's result.tools or ResolveToolset's resolved.tools. */
function toolsIn(body: Buffer, direct: boolean): number {
  if (direct) return (JSON.parse(body.toString()) as { resolved?: { tools?: unknown[] } }).resolved?.tools?.length ?? -1;
  const m = messagesOf(body.toString())[0] as { result?: { tools?: unknown[] }; error?: unknown } | undefined;
  if (m?.result === undefined) throw new Error(`tools/list failed: ${JSON.stringify(m?.error ?? m)}`);
  return m.result.tools?.length ?? -1;
}

interface Client {
  name: string;
  conns: Connection[];
  calls: Call[];
  /** Response bytes of one call. */
  size: number;
}

async function listPart(ctx: BenchContext, gw: ChildServer, path: string): Promise<void> {
  const main = ctx.main;
  const sessions = new Sessions(gw, path);
  const clients: Client[] = [];
  try {
    for (const [c, perRound] of [
      [1, KNOBS.sequential],
      [KNOBS.concurrency, KNOBS.concurrent],
    ] as const) {
      if (perRound === 0) continue;
      const at = c === 1 ? "1 connection (sequential)" : `${c} connections`;
      progress(`Gateway: tools/list vs ResolveToolset on ${at}`);
      clients.length = 0;
      // One 2025-11-25 session per connection (as 16 clients would have); ids differ per connection.
      const legacy = await sessions.open("2025-11-25", c, false);
      const direct = encodeCall("json-h1", ReleaseService.method.resolveToolset, {
        organization: main.tenant.org,
        project: main.project,
        mcpSlug: MCP_SLUG,
      });
      const connsTo = (port: number) => Array.from({ length: c }, () => connect("json-h1", port));
      clients.push(
        {
          name: "tools/list 2025-11-25",
          conns: connsTo(gw.port),
          calls: legacy.map((s, i) => toolsListCall("2025-11-25", path, i + 1, s.id)),
          size: 0,
        },
        { name: "tools/list 2026-07-28", conns: connsTo(gw.port), calls: legacy.map((_, i) => toolsListCall("2026-07-28", path, i + 1)), size: 0 },
        { name: "ResolveToolset", conns: connsTo(ctx.real.port), calls: legacy.map(() => direct), size: 0 },
      );
      // Each answers the whole toolset (checked once per connection), then a warm-up.
      for (const cl of clients) {
        for (const [i, conn] of cl.conns.entries()) {
          const r = await conn.send(cl.calls[i]!, true);
          if (!r.ok) throw new Error(`${cl.name}: ${r.error}`);
          const tools = toolsIn(r.body!, cl.name === "ResolveToolset");
          if (tools !== main.tools) throw new Error(`${cl.name} listed ${tools} tools, not ${main.tools}`);
          cl.size = r.bytes;
        }
        await runFixed(cl.conns, cl.calls, Math.ceil(perRound / 5));
      }
      const runs: LoadResult[][] = clients.map(() => []);
      for (let round = 0; round < options.rounds; round++) {
        const order = clients.map((_, i) => i);
        if (round % 2 === 1) order.reverse();
        for (const i of order) {
          const r = await runFixed(clients[i]!.conns, clients[i]!.calls, perRound);
          runs[i]!.push(r);
          progress(`  round ${round + 1} ${clients[i]!.name}: ${n0(rate(r))} req/s, p50 ${ms(percentile(r.latencies, 50))}${errorsOf(r)}`);
        }
      }
      const [l, m, d] = runs.map(merge) as [LoadResult, LoadResult, LoadResult];
      const dc = clients[2]!;
      for (const [era, r, cl] of [
        ["2025-11-25", l, clients[0]!],
        ["2026-07-28", m, clients[1]!],
      ] as const) {
        const name = `tools/list (${era}, ${bytes(cl.size)}) vs ResolveToolset direct (Connect JSON, ${bytes(dc.size)}) · ${n0(main.tools)} tools · ${at}, ${n0(r.calls)} requests each`;
        add({
          bench: "Gateway",
          case: `${name} · throughput`,
          figure: `${n0(rate(r))} req/s${errorsOf(r)}`,
          baseline: `${n0(rate(d))} req/s direct${errorsOf(d)}`,
          ratio: ratio(rate(r) / rate(d)),
        });
        add({
          bench: "Gateway",
          case: `${name} · latency p50 / p99`,
          figure: `${ms(percentile(r.latencies, 50))} / ${ms(percentile(r.latencies, 99))}`,
          baseline: `${ms(percentile(d.latencies, 50))} / ${ms(percentile(d.latencies, 99))} direct`,
          ratio: ratio(percentile(r.latencies, 50) / percentile(d.latencies, 50)),
        });
      }
      for (const cl of clients) for (const conn of cl.conns) conn.close();
      clients.length = 0;
      await sessions.close();
    }
  } finally {
    for (const cl of clients) for (const conn of cl.conns) conn.close();
    await sessions.close().catch(() => undefined);
  }
}

export async function gateway(ctx: BenchContext): Promise<void> {
  const main = ctx.main;
  // The P1 toolset's live state as a public MCP endpoint (it is in staging mode: staging copy, then publish).
  await ctx.clients.toolsets.updateToolset(
    {
      project: main.project,
      slug: main.slug,
      staging: true,
      fields: { mcpSlug: MCP_SLUG, mcpEnabled: true, mcpIsPublic: true },
      updateMask: { paths: ["mcp_slug", "mcp_enabled", "mcp_is_public"] },
    },
    main.auth,
  );
  await main.publish(ctx.clients);
  const path = `/mcp/${main.tenant.org}/${main.project}/${MCP_SLUG}`;
  progress(`Gateway: starting the gateway in front of the real server (${path})`);
  // Every bench client is 127.0.0.1: the per-address limits would measure themselves.
  const gw = await startGateway("gateway", ctx.real.baseUrl, { GATEWAY_RATE_LIMIT_PER_SECOND: "0", GATEWAY_MAX_SESSIONS_PER_CLIENT: "10000000" });
  try {
    for (const part of [rssPart, deliveryPart, listPart]) {
      await part(ctx, gw, path);
      checkAlive(gw);
    }
  } finally {
    await gw.stop();
  }
}
