// P1: ResolveToolset throughput and latency against a bare connect-node server
// answering the same precomputed response, in interleaved rounds; and the
// not-modified rate of a large toolset against a small one.
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { ReleaseService, ResolveToolsetResponseSchema } from "../gen/releases/v1/releases_pb.js";
import type { BenchContext } from "./lib/context.js";
import { encodeCall, LoadClient, merge, rate, WIRE_LABEL, type Call, type LoadResult, type Wire } from "./lib/load.js";
import { options, VARIATIONS } from "./lib/options.js";
import { startBareServer, type ChildServer } from "./lib/processes.js";
import { add, ms, n0, progress, ratio } from "./lib/report.js";
import { percentile } from "./scratch.js";
import { seedToolset, type Seeded } from "./lib/seed.js";

const WIRES: Wire[] = ["json-h1", "grpc-h2c"];
const THROUGHPUT_GOAL = 0.9;
const NOT_MODIFIED_P99_GOAL_MS = 10;
const SCALING_GOAL = 0.9;

function resolveCall(wire: Wire, seeded: Seeded, ifNoneMatch = ""): Call {
  return encodeCall(wire, ReleaseService.method.resolveToolset, { project: seeded.project, slug: seeded.slug, ifNoneMatch }, seeded.auth.headers);
}

function errors(r: LoadResult): string {
  return r.errors === 0 ? "" : ` (${r.errors} of ${r.calls} failed: ${r.firstError ?? "?"})`;
}

/** `rounds` measured runs of each client, in alternating order (A B, B A, …) after a warm-up of each. */
async function interleaved(clients: LoadClient[], calls: Call[][], label: string[], seconds = options.roundSeconds): Promise<LoadResult[]> {
  const warm = options.quick ? 0.5 : 1;
  for (const [i, c] of clients.entries()) await c.run(calls[i]!, warm);
  const runs: LoadResult[][] = clients.map(() => []);
  for (let round = 0; round < options.rounds; round++) {
    const order = clients.map((_, i) => i);
    if (round % 2 === 1) order.reverse();
    for (const i of order) {
      const r = await clients[i]!.run(calls[i]!, seconds);
      runs[i]!.push(r);
      progress(`  round ${round + 1} ${label[i]}: ${n0(rate(r))} req/s, p50 ${ms(percentile(r.latencies, 50))}${errors(r)}`);
    }
  }
  return runs.map(merge);
}

/** Fetches the real server's full response once (binary) for the bare server, and checks both answer not_modified alike. */
async function precompute(ctx: BenchContext, seeded: Seeded): Promise<{ file: string; etag: string }> {
  const releases = createClient(ReleaseService, createConnectTransport({ baseUrl: ctx.real.baseUrl, httpVersion: "1.1", useBinaryFormat: true }));
  const response = await releases.resolveToolset({ project: seeded.project, slug: seeded.slug }, seeded.auth);
  const etag = response.resolved?.etag ?? "";
  if (response.resolved?.tools.length !== seeded.tools) throw new Error(`expected ${seeded.tools} tools, got ${response.resolved?.tools.length}`);
  const file = join(tmpdir(), `tsr-bench-${process.pid}-resolve.bin`);
  writeFileSync(file, toBinary(ResolveToolsetResponseSchema, response));
  return { file, etag };
}

/** Checks that a server answers like the real one: the full response over gRPC, and not_modified over Connect JSON. */
async function check(baseUrl: string, h2BaseUrl: string, seeded: Seeded, etag: string): Promise<void> {
  const grpc = createClient(ReleaseService, createGrpcTransport({ baseUrl: h2BaseUrl }));
  const full = await grpc.resolveToolset({ project: seeded.project, slug: seeded.slug }, seeded.auth);
  if (full.resolved?.etag !== etag || full.resolved.tools.length !== seeded.tools) throw new Error(`${h2BaseUrl} answered another full response`);
  const json = createClient(ReleaseService, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
  const r = await json.resolveToolset({ project: seeded.project, slug: seeded.slug, ifNoneMatch: etag }, seeded.auth);
  if (!r.notModified) throw new Error(`${baseUrl} did not answer not_modified for the current etag`);
}

/** Latency with one connection (no queueing behind the other 15): the time the server takes for one call. */
async function serviceTime(wire: Wire, realPort: number, barePort: number, call: Call, name: string): Promise<void> {
  const clients = [new LoadClient(wire, realPort, 1), new LoadClient(wire, barePort, 1)];
  try {
    const [r, b] = await interleaved(clients, [[call], [call]], ["real, 1 connection", "bare, 1 connection"], Math.max(1, options.roundSeconds / 3));
    add({
      bench: "P1",
      case: `${name} · latency p50 / p99 at 1 connection`,
      figure: `${ms(percentile(r!.latencies, 50))} / ${ms(percentile(r!.latencies, 99))}`,
      baseline: `${ms(percentile(b!.latencies, 50))} / ${ms(percentile(b!.latencies, 99))} bare`,
      ratio: ratio(percentile(r!.latencies, 50) / percentile(b!.latencies, 50)),
    });
  } finally {
    for (const c of clients) c.close();
  }
}

export async function p1(ctx: BenchContext): Promise<void> {
  const main = ctx.main;
  progress(`P1: seeding toolsets of ${options.smallTools} and ${options.largeTools} tools`);
  const small = await seedToolset(ctx.db, ctx.clients, {
    tools: options.smallTools,
    globalVariations: Math.min(VARIATIONS.global, options.smallTools),
    toolsetVariations: Math.min(VARIATIONS.toolset, options.smallTools),
  });
  const large = await seedToolset(ctx.db, ctx.clients, {
    tools: options.largeTools,
    globalVariations: VARIATIONS.global,
    toolsetVariations: VARIATIONS.toolset,
  });

  const { file, etag } = await precompute(ctx, main);
  let bare: (ChildServer & { h2Port: number }) | undefined;
  try {
    bare = await startBareServer(file);
    await check(ctx.real.baseUrl, ctx.real.baseUrl, main, etag);
    await check(bare.baseUrl, `http://127.0.0.1:${bare.h2Port}`, main, etag);

    for (const wire of WIRES) {
      for (const notModified of [false, true]) {
        const kind = notModified ? "if_none_match (not modified)" : "full body";
        const name = `${WIRE_LABEL[wire]} · ${kind} · ${main.tools} tools`;
        progress(`P1: ${name}`);
        const call = resolveCall(wire, main, notModified ? etag : "");
        const real = new LoadClient(wire, ctx.real.port, options.connections);
        const base = new LoadClient(wire, wire === "json-h1" ? bare.port : bare.h2Port, options.connections);
        try {
          const [r, b] = await interleaved([real, base], [[call], [call]], ["real", "bare"]);
          const x = rate(r!) / rate(b!);
          add({
            bench: "P1",
            case: `${name} · throughput`,
            figure: `${n0(rate(r!))} req/s${errors(r!)}`,
            baseline: `${n0(rate(b!))} req/s bare${errors(b!)}`,
            ratio: ratio(x),
            goal: `≥ ${THROUGHPUT_GOAL.toFixed(2)}×`,
            met: x >= THROUGHPUT_GOAL,
          });
          const p99 = percentile(r!.latencies, 99);
          add({
            bench: "P1",
            case: `${name} · latency p50 / p99`,
            figure: `${ms(percentile(r!.latencies, 50))} / ${ms(p99)}`,
            baseline: `${ms(percentile(b!.latencies, 50))} / ${ms(percentile(b!.latencies, 99))} bare`,
            ratio: ratio(p99 / percentile(b!.latencies, 99)),
            ...(notModified ? { goal: `p99 ≤ ${NOT_MODIFIED_P99_GOAL_MS} ms`, met: p99 <= NOT_MODIFIED_P99_GOAL_MS } : {}),
          });
        } finally {
          real.close();
          base.close();
        }
        if (notModified) await serviceTime(wire, ctx.real.port, wire === "json-h1" ? bare.port : bare.h2Port, call, name);
      }
    }
  } finally {
    await bare?.stop();
    rmSync(file, { force: true });
  }

  // Not modified at LARGE tools against SMALL tools, same server, interleaved.
  const etags = await Promise.all(
    [small, large].map(async (s) => (await ctx.clients.releases.resolveToolset({ project: s.project, slug: s.slug }, s.auth)).resolved!.etag),
  );
  for (const wire of WIRES) {
    const name = `${WIRE_LABEL[wire]} · not modified · ${options.largeTools} vs ${options.smallTools} tools`;
    progress(`P1: ${name}`);
    const clients = [new LoadClient(wire, ctx.real.port, options.connections), new LoadClient(wire, ctx.real.port, options.connections)];
    try {
      const [s, l] = await interleaved(
        clients,
        [[resolveCall(wire, small, etags[0])], [resolveCall(wire, large, etags[1])]],
        [`${options.smallTools} tools`, `${options.largeTools} tools`],
      );
      const x = rate(l!) / rate(s!);
      add({
        bench: "P1",
        case: name,
        figure: `${n0(rate(l!))} req/s${errors(l!)}`,
        baseline: `${n0(rate(s!))} req/s at ${options.smallTools} tools${errors(s!)}`,
        ratio: ratio(x),
        goal: `≥ ${SCALING_GOAL.toFixed(2)}×`,
        met: x >= SCALING_GOAL,
      });
    } finally {
      for (const c of clients) c.close();
    }
  }
}
