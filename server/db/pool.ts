import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import type { Database } from "./database.js";

/** Pool settings taken from configuration. */
export interface PoolOptions {
  connectionString: string;
  max: number;
  statementTimeoutMs: number;
  applicationName?: string;
}

// int8 as bigint, never a lossy number; numeric stays a string. Per-pool parsers
// rather than pg.types.setTypeParser, so nothing else in the process is affected.
const INT8_OID = 20;
const typeParsers = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === INT8_OID) return (v: string) => BigInt(v);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/** A pg pool with bigint int8 parsing, a statement timeout and bounded size. */
export function createPool(opts: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.max,
    statement_timeout: opts.statementTimeoutMs,
    connectionTimeoutMillis: 5_000,
    application_name: opts.applicationName ?? "toolset-release-service",
    types: typeParsers,
  });
  // A client whose server went away emits 'error'. pg-pool forwards it to the
  // pool only while the client is idle; a checked-out client (its backend
  // terminated mid-transaction, a failover) would have no listener and crash the
  // process. The query in flight fails on its own (mapped to UNAVAILABLE) and the
  // pool discards the broken client on release; the next checkout reconnects.
  pool.on("error", () => undefined);
  pool.on("connect", (client) => client.on("error", () => undefined));
  return pool;
}

/** The Kysely instance every query goes through; `onQuery` sees each executed statement (tests count them). */
export function createDb(pool: pg.Pool, opts: { onQuery?: (sql: string) => void } = {}): Kysely<Database> {
  const onQuery = opts.onQuery;
  return new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    ...(onQuery ? { log: (event) => onQuery(event.query.sql) } : {}),
  });
}
