import { EventEmitter, on, setMaxListeners } from "node:events";
import { sql, type Kysely } from "kysely";
import type { Database } from "../db/database.js";
import { readMigrations } from "../db/migrator.js";

/** Serving status shared by gRPC health, /readyz and shutdown. */
export class HealthState {
  private serving = true;
  private readonly events = new EventEmitter();
  private readonly stopping = new AbortController();

  /** Aborted when shutdown begins: streaming calls end on it (see createRpcHandler). */
  readonly shutdownSignal: AbortSignal = this.stopping.signal;

  constructor() {
    // Every call in flight listens on the shutdown signal, and every Watch on the
    // events, until it ends: many at once is load, not a leak.
    setMaxListeners(0, this.stopping.signal);
    this.events.setMaxListeners(0);
  }

  /** False once shutdown has begun. */
  isServing(): boolean {
    return this.serving;
  }

  /** Marks the process as going away; Watch streams see NOT_SERVING, then end. */
  stopServing(): void {
    if (!this.serving) return;
    this.serving = false;
    this.events.emit("change", false);
    this.stopping.abort();
  }

  /** Yields the status now and on every change until `signal` aborts. */
  async *watch(signal: AbortSignal): AsyncGenerator<boolean> {
    yield this.serving;
    try {
      for await (const [serving] of on(this.events, "change", { signal })) yield serving as boolean;
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }
}

/**
 * The database half of /readyz: ready when the database answers and every
 * migration file of this build is recorded in schema_migrations (a database
 * migrated further by a newer replica is ready too). Once migrated, it stays so
 * (migrations are never undone), and the check is a plain `SELECT 1`.
 */
export function databaseReadiness(db: Kysely<Database>, opts: { timeoutMs: number; migrationsDir?: string }): () => Promise<boolean> {
  let migrated = false;
  let expected: Promise<string[]> | undefined;
  const check = async (): Promise<boolean> => {
    if (migrated) {
      await sql`SELECT 1`.execute(db);
      return true;
    }
    expected ??= readMigrations(opts.migrationsDir).then((files) => files.map((f) => f.name));
    const names = await expected;
    const { rows } = await sql<{ present: boolean }>`SELECT to_regclass('schema_migrations') IS NOT NULL AS present`.execute(db);
    if (!rows[0]?.present) return false;
    const applied = await sql<{ name: string }>`SELECT name FROM schema_migrations`.execute(db);
    const done = new Set(applied.rows.map((r) => r.name));
    migrated = names.every((n) => done.has(n));
    return migrated;
  };
  return async () => {
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("readiness check timed out")), opts.timeoutMs);
      });
      return await Promise.race([check(), timeout]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  };
}
