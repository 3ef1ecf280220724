// `npm run bench`: the benchmarks of issues 9 and 10 (P1–P4, memory, the MCP gateway) against
// baselines measured in the same run, printed as one table. Prints figures and
// ratios beside the goals; asserts nothing. See docs/performance.md.
//
//   npm run bench                    QUICK=1 npm run bench          ONLY=p1,p4 npm run bench
//
// Uses DATABASE_URL (a server URL; a scratch database is created on it and
// dropped) or a throw-away embedded PostgreSQL.
import { execFileSync } from "node:child_process";
import { availableParallelism, cpus, loadavg, totalmem } from "node:os";
import { createDb, createPool } from "../server/db/pool.js";
import { gateway } from "./gateway.js";
import type { BenchContext } from "./lib/context.js";
import { options, VARIATIONS, type Section } from "./lib/options.js";
import { REPO_ROOT, startServer } from "./lib/processes.js";
import { add, progress, table } from "./lib/report.js";
import { clientsOf, seedToolset } from "./lib/seed.js";
import { memory } from "./memory.js";
import { p1 } from "./p1-resolve.js";
import { p2 } from "./p2-publish.js";
import { p3 } from "./p3-cost.js";
import { p4 } from "./p4-propagation.js";
import { runMain, withScratchDatabase, type ScratchDatabase } from "./scratch.js";

const SECTIONS: [Section, string, (ctx: BenchContext) => Promise<void>][] = [
  ["p1", "P1", p1],
  ["p2", "P2", p2],
  ["p3", "P3", p3],
  ["p4", "P4", p4],
  ["mem", "Memory", memory],
  ["gw", "Gateway", gateway], // last: it publishes the P1 toolset
];

function commit(): string {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: REPO_ROOT, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "server", "migrations", "gen"], { cwd: REPO_ROOT, encoding: "utf8" }).trim();
    return dirty ? `${head} + uncommitted server changes` : head;
  } catch {
    return "unknown";
  }
}

function header(database: ScratchDatabase): string {
  const pg = /^PostgreSQL \S+/.exec(database.version)?.[0] ?? database.version;
  return [
    `# npm run bench · ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC · commit ${commit()}${options.quick ? " · QUICK=1" : ""}`,
    `machine: ${availableParallelism()} CPUs (${cpus()[0]?.model ?? "?"}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM · Node ${process.version} · ${pg} (${database.source})`,
    `the load generator (this process), the servers under test (child processes) and PostgreSQL share these ${availableParallelism()} CPUs (load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")} at the start: other work on the machine shifts absolute figures; the interleaved ratios hold better);`,
    `P1: ${options.connections} connections, ${options.rounds} × ${options.roundSeconds} s rounds per server and case, real and bare interleaved.`,
  ].join("\n");
}

async function main(): Promise<void> {
  let failed = false;
  await withScratchDatabase(async (database) => {
    const head = header(database); // the load average before the benchmarks add theirs
    process.stderr.write(`${head}\n`);
    const db = createDb(createPool({ connectionString: database.url, max: 2, statementTimeoutMs: 60_000 }));
    const real = await startServer("real", database.url);
    try {
      const clients = clientsOf(real.baseUrl);
      progress(`seeding the ${options.tools}-tool toolset (${VARIATIONS.global} global and ${VARIATIONS.toolset} toolset variations, published)`);
      const mainToolset = await seedToolset(db, clients, {
        tools: options.tools,
        globalVariations: VARIATIONS.global,
        toolsetVariations: VARIATIONS.toolset,
      });
      const ctx: BenchContext = { database, db, real, clients, main: mainToolset };
      for (const [section, label, run] of SECTIONS) {
        if (!options.only.has(section)) continue;
        const t0 = performance.now();
        try {
          await run(ctx);
        } catch (err) {
          failed = true;
          console.error(err);
          add({ bench: label, case: "failed", figure: err instanceof Error ? err.message.split("\n")[0]! : String(err) });
        }
        progress(`${label} took ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      }
    } finally {
      await real.stop();
      await db.destroy();
    }
    console.log(`${head}\n\n${table()}`);
  });
  if (failed) process.exitCode = 1;
}

runMain(main);
