// P4: a publish on replica A until replica B serves it — B polled with
// ResolveToolset if_none_match in a loop (Connect JSON, one connection) — and
// until a WatchToolset stream on B (gRPC, h2c) delivers it. Two server
// processes on one database; TRIALS publishes, one at a time.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ReleaseService } from "../gen/releases/v1/releases_pb.js";
import type { BenchContext } from "./lib/context.js";
import { options, VARIATIONS } from "./lib/options.js";
import { startServer } from "./lib/processes.js";
import { add, ms, progress } from "./lib/report.js";
import { clientsOf, seedToolset } from "./lib/seed.js";
import { percentile, sorted } from "./scratch.js";

const P99_GOAL_MS = 100;
const TRIAL_TIMEOUT_MS = 5_000;

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
    const onB = clientsOf(b.baseUrl);
    const request = { project: seeded.project, slug: seeded.slug };

    // The poller: if_none_match of the last etag it saw, in a loop.
    const polled: Seen = new Map();
    let known = (await onB.releases.resolveToolset(request, seeded.auth)).resolved!.etag;
    let pollError: unknown;
    const poller = (async () => {
      while (!stop.signal.aborted) {
        try {
          const r = await onB.releases.resolveToolset({ ...request, ifNoneMatch: known }, seeded.auth);
          if (!r.notModified && r.resolved) {
            if (!polled.has(r.resolved.etag)) polled.set(r.resolved.etag, performance.now());
            known = r.resolved.etag;
          }
        } catch (e) {
          pollError ??= e;
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    })();

    // The watcher: one stream for all trials.
    const watched: Seen = new Map();
    let watchError: ConnectError | undefined;
    const watch = createClient(ReleaseService, createGrpcTransport({ baseUrl: b.baseUrl }));
    const watcher = (async () => {
      try {
        for await (const m of watch.watchToolset(request, { ...seeded.auth, signal: stop.signal })) {
          if (m.etag !== "" && !watched.has(m.etag)) watched.set(m.etag, performance.now());
        }
      } catch (e) {
        if (!stop.signal.aborted) watchError = ConnectError.from(e);
      }
    })();
    const watching = await until(() => watched.size > 0 || watchError !== undefined, TRIAL_TIMEOUT_MS);
    if (!watching) watchError = new ConnectError("no first message", Code.DeadlineExceeded);
    if (watchError) progress(`  WatchToolset on B: ${watchError.code === Code.Unimplemented ? "not implemented" : watchError.message}`);

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
    await Promise.all([poller, watcher]);
    if (pollError) progress(`  a poll of B failed: ${String(pollError)}`);

    const s = sorted(toB);
    const f = sorted(fromStart);
    const pub = sorted(publish);
    const trials = `${options.trials} trials${timeouts ? `, ${timeouts} timed out (${TRIAL_TIMEOUT_MS} ms counted)` : ""}`;
    add({
      bench: "P4",
      case: `publish on A → B serves it (poll, if_none_match) · p50 / p99 after A answered · ${trials}`,
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
        figure: `n/a: ${watchError.code === Code.Unimplemented ? "WatchToolset not implemented" : watchError.message}`,
        goal: `p99 ≤ ${P99_GOAL_MS} ms`,
      });
    }
  } finally {
    stop.abort();
    await b.stop();
  }
}
