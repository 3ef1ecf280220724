import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { startEmbeddedPostgres } from "../server/db/embedded.js";
import { migrate } from "../server/db/migrator.js";
import { freePort } from "../server/platform/ports.js";

/** A migrated scratch database and what it runs on. */
export interface ScratchDatabase {
  /** Connection string of the scratch database. */
  url: string;
  /** "DATABASE_URL" or "embedded". */
  source: string;
  /** `SELECT version()`. */
  version: string;
}

/**
 * Runs `fn` against a scratch database, migrated and dropped afterwards: on the
 * server of DATABASE_URL, or on a throw-away embedded PostgreSQL.
 */
export async function withScratchDatabase<T>(fn: (db: ScratchDatabase) => Promise<T>): Promise<T> {
  const embedded = process.env["DATABASE_URL"]
    ? undefined
    : await startEmbeddedPostgres({ dataDir: join(tmpdir(), `tsr-bench-${process.pid}`), port: await freePort(), persistent: false });
  const adminUrl = process.env["DATABASE_URL"] ?? embedded!.url;
  const name = `tsr_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    try {
      await migrate(url.toString());
      const { rows } = await admin.query<{ version: string }>("SELECT version()");
      return await fn({ url: url.toString(), source: embedded ? "embedded" : "DATABASE_URL", version: rows[0]!.version });
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  } finally {
    await admin.end();
    await embedded?.stop();
  }
}

/** The p-th percentile of ascending values (nearest rank). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Ascending copy of `values`. */
export function sorted(values: Iterable<number>): Float64Array {
  return Float64Array.from(values).sort();
}

/** Runs a benchmark's main and exits non-zero on failure. */
export function runMain(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
