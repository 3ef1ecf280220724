// P4: a publish on replica A until replica B serves it — B polled with
// ResolveToolset if_none_match every POLL_MS (Connect JSON, one connection) —
// and until a WatchToolset stream on B (gRPC, h2c) delivers it. Two server
// processes on one database; TRIALS publishes, one at a time. Times run from
// A's answer to the publish to the arrival of the last byte of B's response
// (or stream message), before the bench decodes it.
import { ReleaseService } from "../gen/releases/v1/releases_pb.js";
import type { BenchContext } from "./lib/context.js";
import { connect, encodeCall, etagField, StreamSessions } from "./lib/load.js";
import { options, VARIATIONS } from "./lib/options.js";
import { startServer } from "./lib/processes.js";
import { add, ms, progress } from "./lib/report.js";
import { seedToolset } from "./lib/seed.js";
import { percentile, sorted } from "./scratch.js";

const P99_GOAL_MS = 100;
const TRIAL_TIMEOUT_MS = 5_000;
const UNIMPLEMENTED = "12";

/** When each etag was first seen, by performance.now(). */
type Seen = Map<string, number>;

async function until(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 1));
  }
  return true;
}

export async function p4(ctx: BenchContext): Promise<void> {
  progress(`P4: seeding a toolset of ${options.tools} tools on replica A, starting replica B`);
  const seeded = await seedToolset(ctx.db, ctx.clients, {
    tools: options.tools,
    globalVariations: VARIATIONS.global,
    toolsetVariations: VARIATIONS.toolset,
  });
  const b = await startServer("replica-b", ctx.database.url);
  const stop = new AbortController();
  try {
    const request = { project: seeded.project, slug: seeded.slug };
    const resolveOnB = (ifNoneMatch: string) =>
      encodeCall("json-h1", ReleaseService.method.resolveToolset, { ...request, ifNoneMatch }, seeded.auth.headers);

    // The poller: if_none_match of the last etag it saw, every POLL_MS; times
    // are taken when a response's last byte arrived, before it is parsed.
    const polled: Seen = new Map();
    const poll = connect("json-h1", b.port);
    const etagOf = (body: Buffer | undefined) => (JSON.parse(body?.toString() ?? "{}") as { resolved?: { etag?: string } }).resolved?.etag;
    const first = await poll.send(resolveOnB(""), true);
    if (!first.ok) throw new Error(`ResolveToolset on B failed: ${first.error}`);
    let known = etagOf(first.body) ?? "";
    let pollError: string | undefined;
    const poller = (async () => {
      while (!stop.signal.aborted) {
        const r = await poll.send(resolveOnB(known), true);
        const etag = r.ok ? etagOf(r.body) : undefined;
        if (etag !== undefined) {
          if (!polled.has(etag)) polled.set(etag, r.at);
          known = etag;
        }
        if (!r.ok) pollError ??= r.error;
        if (!r.ok || options.pollMs > 0) await new Promise((resolve) => setTimeout(resolve, r.ok ? options.pollMs : 10));
      }
    })();

    // The watcher: one stream for all trials, messages timed on arrival, decoded after.
    const watched: Seen = new Map();
    let watchError: string | undefined;
    const sessions = new StreamSessions(b.port);
    const stream = sessions.open(encodeCall("grpc-h2c", ReleaseService.method.watchToolset, request, seeded.auth.headers), (bytes, at) => {
      const etag = etagField(bytes);
      if (etag !== "" && !watched.has(etag)) watched.set(etag, at);
    });
    void stream.done.then(({ grpcStatus, message }) => {
      if (!stop.signal.aborted)
        watchError = grpcStatus === UNIMPLEMENTED ? "WatchToolset not implemented" : `stream ended: grpc-status ${grpcStatus} ${message}`;
    });
    const watching = await until(() => watched.size > 0 || watchError !== undefined, TRIAL_TIMEOUT_MS);
    if (!watching) watchError = "no first message";
    if (watchError) progress(`  WatchToolset on B: ${watchError}`);

    const publish: number[] = [];
    const toB: number[] = [];
    const toWatcher: number[] = [];
    const fromStart: number[] = [];
    let timeouts = 0;
    for (let i = 0; i < options.trials; i++) {
      await seeded.edit(ctx.clients);
      const t0 = performance.now();
      const { etag } = await seeded.publish(ctx.clients);
      const t1 = performance.now();
      publish.push(t1 - t0);
      const ok = await until(() => polled.has(etag) && (watchError !== undefined || watched.has(etag)), TRIAL_TIMEOUT_MS);
      if (!ok) timeouts++;
      const p = polled.get(etag) ?? t0 + TRIAL_TIMEOUT_MS;
      toB.push(Math.max(0, p - t1));
      fromStart.push(p - t0);
      if (watchError === undefined) toWatcher.push(Math.max(0, (watched.get(etag) ?? t0 + TRIAL_TIMEOUT_MS) - t1));
      await new Promise((r) => setTimeout(r, 20));
    }
    stop.abort();
    stream.close();
    await poller;
    poll.close();
    sessions.close();
    if (pollError) progress(`  a poll of B failed: ${pollError}`);

    const s = sorted(toB);
    const f = sorted(fromStart);
    const pub = sorted(publish);
    const trials = `${options.trials} trials${timeouts ? `, ${timeouts} timed out (${TRIAL_TIMEOUT_MS} ms counted)` : ""}`;
    add({
      bench: "P4",
      case: `publish on A → B serves it (poll every ${options.pollMs} ms, if_none_match) · p50 / p99 after A answered · ${trials}`,
      figure: `${ms(percentile(s, 50))} / ${ms(percentile(s, 99))}`,
      baseline: `publish ${ms(percentile(pub, 50))} / ${ms(percentile(pub, 99))}; from its start ${ms(percentile(f, 50))} / ${ms(percentile(f, 99))}`,
      goal: `p99 ≤ ${P99_GOAL_MS} ms`,
      met: percentile(s, 99) <= P99_GOAL_MS,
    });
    if (watchError === undefined) {
      const w = sorted(toWatcher);
      add({
        bench: "P4",
        case: `publish on A → watcher on B receives it (WatchToolset) · p50 / p99 after A answered`,
        figure: `${ms(percentile(w, 50))} / ${ms(percentile(w, 99))}`,
        goal: `p99 ≤ ${P99_GOAL_MS} ms`,
        met: percentile(w, 99) <= P99_GOAL_MS,
      });
    } else {
      add({
        bench: "P4",
        case: "publish on A → watcher on B receives it (WatchToolset)",
        figure: `n/a: ${watchError}`,
        goal: `p99 ≤ ${P99_GOAL_MS} ms`,
      });
    }
  } finally {
    stop.abort();
    await b.stop();
  }
}
