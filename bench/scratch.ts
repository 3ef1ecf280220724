import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { startEmbeddedPostgres } from "../server/db/embedded.js";
import { migrate } from "../server/db/migrator.js";
import { freePort } from "../server/platform/ports.js";
import { startTestServer, type TestServer } from "../server/testing/server.js";

/**
 * Runs `fn` against a server over a scratch database, migrated and dropped
 * afterwards: on the server of DATABASE_URL, or on a throw-away embedded PostgreSQL.
 */
export async function withScratchServer(fn: (server: TestServer) => Promise<void>): Promise<void> {
  const embedded = process.env["DATABASE_URL"]
    ? undefined
    : await startEmbeddedPostgres({ dataDir: join(tmpdir(), `tsr-bench-${process.pid}`), port: await freePort(), persistent: false });
  const adminUrl = process.env["DATABASE_URL"] ?? embedded!.url;
  const name = `tsr_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  try {
    await migrate(url.toString());
    const server = await startTestServer(url.toString());
    try {
      await fn(server);
    } finally {
      await server.close();
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
    await embedded?.stop();
  }
}

/** The p-th percentile of sorted values, formatted in milliseconds. */
export function percentile(sorted: readonly number[], p: number): string {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!.toFixed(2);
}

/** Runs a benchmark's main and exits non-zero on failure. */
export function runMain(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
