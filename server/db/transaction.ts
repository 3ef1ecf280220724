import type { Kysely, Transaction } from "kysely";
import type { Database } from "./database.js";
import { writePermit } from "./pool.js";
import { isRetryableSqlState } from "../platform/errors.js";
import { currentRequest } from "../platform/request-context.js";

const MAX_ATTEMPTS = 3;

/**
 * Runs `fn` in one transaction (commit on return, rollback on throw), retrying a
 * few times on serialization failures and deadlocks (40001, 40P01); the last
 * failure surfaces and is mapped to ABORTED. A lock timeout (55P03) is not
 * retried: the write already waited DB_LOCK_TIMEOUT_MS, and the client gets
 * ABORTED with a retry hint instead. No retry starts once the request has
 * ended or its deadline would pass during the pause. The transaction holds one
 * of the write permits (DB_WRITE_CONNECTIONS) from before it takes a
 * connection until it ends, so writes never hold every connection.
 * `fn` must not call the network.
 */
export async function inTransaction<T>(db: Kysely<Database>, fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  const release = await writePermit(db);
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        return await db.transaction().execute(fn);
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (attempt >= MAX_ATTEMPTS || typeof code !== "string" || !isRetryableSqlState(code)) throw err;
        const pause = 10 * attempt + Math.random() * 20;
        if (!timeLeft(pause)) throw err;
        await new Promise((r) => setTimeout(r, pause));
      }
    }
  } finally {
    release();
  }
}

/** Whether the current request (if any) is still waited for `ms` from now. */
function timeLeft(ms: number): boolean {
  const request = currentRequest();
  if (!request) return true;
  return !request.signal.aborted && (request.deadline === undefined || performance.now() + ms < request.deadline);
}

/** Runs reads in one read-only REPEATABLE READ transaction, so they all see the same committed state. */
export async function snapshot<T>(db: Kysely<Database>, fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.transaction().setIsolationLevel("repeatable read").setAccessMode("read only").execute(fn);
}
