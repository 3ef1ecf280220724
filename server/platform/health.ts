import { EventEmitter, on, setMaxListeners } from "node:events";
import { sql, type Kysely } from "kysely";
import type { Database } from "../db/database.js";
import { pendingMigrations } from "../db/migrator.js";
import { operationsDb } from "../db/pool.js";
import type { Logger } from "./logging.js";

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
 * migration file of this build is applied (see pendingMigrations). Once migrated
 * it stays so (migrations are never undone), and the check is a plain `SELECT 1`.
 * Why it is not ready is logged when that changes, so a 503 is never a mystery.
 * It asks over `db`'s operations connections (see createDb), which the pool's
 * load cannot take: every pool connection busy (writes queued on a locked row)
 * is no reason to take the replica out of the load balancer while PostgreSQL answers.
 */
export function databaseReadiness(db: Kysely<Database>, opts: { timeoutMs: number; logger: Logger; migrationsDir?: string }): () => Promise<boolean> {
  const probe = operationsDb(db);
  let migrated = false;
  let lastReason = "";
  const check = async (): Promise<boolean> => {
    if (migrated) {
      await sql`SELECT 1`.execute(probe);
      return true;
    }
    const pending = await pendingMigrations(probe, opts.migrationsDir);
    migrated = pending.length === 0;
    if (!migrated) notReady(`migrations not applied: ${pending.join(", ")}`);
    return migrated;
  };
  const notReady = (reason: string) => {
    if (reason !== lastReason) opts.logger.warn("not ready", { reason });
    lastReason = reason;
  };
  return async () => {
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the database did not answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
      });
      const ready = await Promise.race([check(), timeout]);
      if (ready) lastReason = "";
      return ready;
    } catch (err) {
      notReady(err instanceof Error ? err.message : String(err));
      return false;
    } finally {
      clearTimeout(timer);
    }
  };
}
