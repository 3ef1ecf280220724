import type { Kysely, Transaction } from "kysely";
import type { Database } from "./database.js";
import { isRetryableSqlState } from "../platform/errors.js";

const MAX_ATTEMPTS = 3;

/**
 * Runs `fn` in one transaction (commit on return, rollback on throw), retrying a
 * few times on serialization failures and deadlocks (40001, 40P01); the last
 * failure surfaces and is mapped to ABORTED. `fn` must not call the network.
 */
export async function inTransaction<T>(db: Kysely<Database>, fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(fn);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (attempt >= MAX_ATTEMPTS || typeof code !== "string" || !isRetryableSqlState(code)) throw err;
      await new Promise((r) => setTimeout(r, 10 * attempt + Math.random() * 20));
    }
  }
}

/** Runs reads in one read-only REPEATABLE READ transaction, so they all see the same committed state. */
export async function snapshot<T>(db: Kysely<Database>, fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.transaction().setIsolationLevel("repeatable read").setAccessMode("read only").execute(fn);
}
