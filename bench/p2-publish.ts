// P2: PublishStagingVersion of a toolset with many variations, early in its
// history and after RELEASES releases (a one-field staging edit before each
// publish, so each has a change). Sequential calls from the bench process to
// the real server process.
import type { BenchContext } from "./lib/context.js";
import { options, VARIATIONS } from "./lib/options.js";
import { add, ms, n0, progress, ratio } from "./lib/report.js";
import { seedToolset } from "./lib/seed.js";
import { percentile, sorted } from "./scratch.js";

const P50_GOAL_MS = 50;
const GROWTH_GOAL = 1.2;

export async function p2(ctx: BenchContext): Promise<void> {
  progress(`P2: seeding a toolset of ${options.tools} tools with ${options.publishVariations} toolset variations`);
  const seeded = await seedToolset(ctx.db, ctx.clients, {
    tools: options.tools,
    globalVariations: VARIATIONS.global,
    toolsetVariations: Math.min(options.publishVariations, options.tools),
    publish: false, // history 1: the release the switch to staging captured
  });
  const window = Math.max(1, Math.min(options.window, options.releases));
  const early: number[] = [];
  const late: number[] = [];
  let releases = 1;
  const started = performance.now();
  while (releases < options.releases + window) {
    await seeded.edit(ctx.clients);
    const t0 = performance.now();
    const { releaseNumber } = await seeded.publish(ctx.clients);
    const took = performance.now() - t0;
    if (releases <= window) early.push(took);
    if (releases >= options.releases) late.push(took);
    releases = Number(releaseNumber);
    if (releases % 200 === 0) progress(`  ${n0(releases)} releases, ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
  const e = sorted(early);
  const l = sorted(late);
  const e50 = percentile(e, 50);
  const l50 = percentile(l, 50);
  const name = `${options.tools} tools, ${Math.min(options.publishVariations, options.tools)} toolset + ${VARIATIONS.global} global variations`;
  add({
    bench: "P2",
    case: `publish · ${name} · history 1 (first ${e.length}) · p50 / p95`,
    figure: `${ms(e50)} / ${ms(percentile(e, 95))}`,
    goal: `p50 ≤ ${P50_GOAL_MS} ms`,
    met: e50 <= P50_GOAL_MS,
  });
  add({
    bench: "P2",
    case: `publish · ${name} · after ${n0(options.releases)} releases (next ${l.length}) · p50 / p95`,
    figure: `${ms(l50)} / ${ms(percentile(l, 95))}`,
    baseline: `${ms(e50)} at history 1`,
    ratio: ratio(l50 / e50),
    goal: `p50 ≤ ${P50_GOAL_MS} ms, ≤ ${GROWTH_GOAL.toFixed(2)}×`,
    met: l50 <= P50_GOAL_MS && l50 / e50 <= GROWTH_GOAL,
  });
}
