import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sql, type Kysely } from "kysely";
import type { Database } from "./database.js";
import pg from "pg";

/** Directory holding the forward-only `NNNN_name.sql` migrations. */
export const MIGRATIONS_DIR = fileURLToPath(new URL("../../migrations/", import.meta.url));

/** First-line marker for a migration that must run outside a transaction (CREATE INDEX CONCURRENTLY). */
export const NO_TRANSACTION_MARKER = "-- migrate:no-transaction";

// Any constant works; it only has to be the same in every process that migrates.
const MIGRATION_LOCK_KEY = 7_312_000_001;

/** One migration file as read from disk. */
export interface MigrationFile {
  name: string;
  sql: string;
  checksum: string;
  transactional: boolean;
}

/** What a migration run did. */
export interface MigrationResult {
  applied: string[];
  skipped: string[];
}

/** Reads migration files in name order; `upTo` stops after the named migration (tests of upgrades). */
export async function readMigrations(dir = MIGRATIONS_DIR, upTo?: string): Promise<MigrationFile[]> {
  const names = (await readdir(dir)).filter((n) => /^\d{4}_[a-z0-9_]+\.sql$/.test(n)).sort();
  const files: MigrationFile[] = [];
  for (const name of names) {
    const sql = await readFile(join(dir, name), "utf8");
    files.push({
      name: name.replace(/\.sql$/, ""),
      sql,
      checksum: createHash("sha256").update(sql).digest("hex"),
      transactional: !sql.trimStart().startsWith(NO_TRANSACTION_MARKER),
    });
    if (upTo !== undefined && name.startsWith(upTo)) break;
  }
  return files;
}

/**
 * Applies pending migrations in order, each in its own transaction unless it
 * carries the no-transaction marker. A session advisory lock makes concurrent
 * runs (several replicas starting at once) wait for each other; an applied
 * migration whose file changed stops the run, because landed migrations are frozen.
 */
export async function migrate(connectionString: string, opts: { dir?: string; upTo?: string } = {}): Promise<MigrationResult> {
  const files = await readMigrations(opts.dir, opts.upTo);
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query("SET client_min_messages = warning");
    await acquireLock(client);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      name text PRIMARY KEY,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
    )`);
    const { rows } = await client.query<{ name: string; checksum: string }>("SELECT name, checksum FROM schema_migrations");
    const applied = new Map(rows.map((r) => [r.name, r.checksum]));
    const result: MigrationResult = { applied: [], skipped: [] };
    for (const file of files) {
      const done = applied.get(file.name);
      if (done !== undefined) {
        if (done !== file.checksum) {
          throw new Error(`migration ${file.name} was changed after it was applied; landed migrations are frozen, add a new one`);
        }
        result.skipped.push(file.name);
        continue;
      }
      await runOne(client, file);
      result.applied.push(file.name);
    }
    return result;
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await client.end();
  }
}

/**
 * Polls with pg_try_advisory_lock instead of blocking in pg_advisory_lock: a
 * session blocked inside a statement holds a snapshot, and CREATE INDEX
 * CONCURRENTLY in the session that has the lock would wait for it forever.
 */
async function acquireLock(client: pg.Client): Promise<void> {
  for (;;) {
    const { rows } = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1) AS ok", [MIGRATION_LOCK_KEY]);
    if (rows[0]?.ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function runOne(client: pg.Client, file: MigrationFile): Promise<void> {
  const record = () => client.query("INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", [file.name, file.checksum]);
  if (file.transactional) {
    await client.query("BEGIN");
    try {
      await client.query(file.sql);
      await record();
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK");
      throw new Error(`migration ${file.name} failed: ${(err as Error).message}`, { cause: err });
    }
    return;
  }
  // Outside a transaction every statement commits on its own, so such a file must
  // be written to be re-runnable (IF NOT EXISTS / IF EXISTS) in case it stops half-way.
  // A CREATE INDEX CONCURRENTLY that failed leaves an INVALID index behind, which
  // IF NOT EXISTS would then skip: drop those first, so the retry builds them.
  await dropInvalidIndexes(client);
  for (const statement of splitStatements(file.sql)) {
    try {
      await client.query(statement);
    } catch (err) {
      throw new Error(`migration ${file.name} failed: ${(err as Error).message}`, { cause: err });
    }
  }
  await record();
}

/** Drops the indexes a failed concurrent build left INVALID (never used by queries, still maintained by writes). */
async function dropInvalidIndexes(client: pg.Client): Promise<void> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name
     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE NOT i.indisvalid AND n.nspname = current_schema()`,
  );
  for (const { name } of rows) await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
}

/** Splits a no-transaction migration at semicolons that end a line; such files hold plain DDL only. */
export function splitStatements(sql: string): string[] {
  const withoutComments = sql
    .split("\n")
    .filter((line) => !line.trimStart().startsWith("--"))
    .join("\n");
  return withoutComments
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/**
 * The names of this build's migration files the database has not recorded (all
 * of them when it has no tracking table yet): what readiness waits for. A
 * database migrated further by a newer build has none pending.
 */
export async function pendingMigrations(db: Kysely<Database>, dir = MIGRATIONS_DIR): Promise<string[]> {
  const files = await readMigrations(dir);
  // to_regclass, not a failing SELECT: a probe must not log an error in PostgreSQL each time.
  const { rows } = await sql<{ present: boolean }>`SELECT to_regclass('schema_migrations') IS NOT NULL AS present`.execute(db);
  if (!rows[0]?.present) return files.map((f) => f.name);
  const applied = await sql<{ name: string }>`SELECT name FROM schema_migrations`.execute(db);
  const done = new Set(applied.rows.map((r) => r.name));
  return files.map((f) => f.name).filter((n) => !done.has(n));
}
