import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import type { Database } from "./database.js";
import { backendCanceller, GuardedPool, WritePermits } from "./guarded-pool.js";

/** Pool settings taken from configuration. */
export interface PoolOptions {
  connectionString: string;
  max: number;
  statementTimeoutMs: number;
  /** PostgreSQL `lock_timeout`: a lock not granted within it fails with 55P03 (ABORTED, LOCK_TIMEOUT). Undefined = none. */
  lockTimeoutMs?: number;
  /** Longest wait for a new connection to open, and for a pool connection to come free. Default 5 s. */
  connectTimeoutMs?: number;
  applicationName?: string;
}

/** How the database handle bounds its work (see GuardedPool). */
export interface DbOptions {
  /** Sees each executed statement (tests count them). */
  onQuery?: (sql: string) => void;
  /** Client-side bound on each statement, for a database that stops answering. Default 20 s. */
  queryTimeoutMs?: number;
  /** Pool connections write transactions (inTransaction) may hold at once. Default: the pool's size. */
  writeConnections?: number;
  /** Checkouts (and writes waiting for a permit) that may wait; more are refused at once. Default: unbounded. */
  poolQueueMax?: number;
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

/**
 * TCP keepalive probes start after this much idle time, so a peer that vanished
 * (a silent network path, a failover) is noticed on idle connections too; the
 * operating system's default waits two hours.
 */
export const KEEPALIVE_INITIAL_DELAY_MS = 10_000;

const DEFAULT_QUERY_TIMEOUT_MS = 20_000;

/**
 * Connections kept apart from the pool for operations: readiness probes and
 * cancelling backends. Writes and reads cannot take them, so /readyz tells
 * whether PostgreSQL answers even when every pool connection is busy.
 */
const OPERATIONS_CONNECTIONS = 2;
const OPERATIONS_QUEUE_MAX = 20;

/** A pg pool with bigint int8 parsing, statement and lock timeouts, TCP keepalive and bounded size. */
export function createPool(opts: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.max,
    statement_timeout: opts.statementTimeoutMs,
    ...(opts.lockTimeoutMs !== undefined ? { lock_timeout: opts.lockTimeoutMs } : {}),
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_INITIAL_DELAY_MS,
    application_name: opts.applicationName ?? "toolset-release-service",
    types: typeParsers,
  });
  ignoreClientErrors(pool);
  return pool;
}

// A client whose server went away emits 'error'. pg-pool forwards it to the
// pool only while the client is idle; a checked-out client (its backend
// terminated mid-transaction, a failover) would have no listener and crash the
// process. The query in flight fails on its own (mapped to UNAVAILABLE) and the
// pool discards the broken client on release; the next checkout reconnects.
function ignoreClientErrors(pool: pg.Pool): void {
  pool.on("error", () => undefined);
  pool.on("connect", (client) => client.on("error", () => undefined));
}

/** What createDb builds around its Kysely handle, found again by inTransaction and readiness. */
interface DbParts {
  writes: WritePermits;
  /** A Kysely handle over the operations connections. */
  operations: Kysely<Database>;
  operationsPool: pg.Pool;
}

const parts = new WeakMap<Kysely<Database>, DbParts>();

/**
 * The Kysely instance every query goes through: over `pool` guarded (see
 * GuardedPool: deadlines, cancellation, query timeout, bounded queue), with
 * write permits for inTransaction and a small pool of operations connections
 * to the same database (readiness, cancelling backends). Destroying it ends both pools.
 */
export function createDb(pool: pg.Pool, opts: DbOptions = {}): Kysely<Database> {
  const queryTimeoutMs = opts.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  const queueMax = opts.poolQueueMax ?? Number.POSITIVE_INFINITY;
  const operationsPool = new pg.Pool({
    ...pool.options,
    // pg-pool keeps a password it was given out of its enumerable options.
    ...(pool.options.password !== undefined ? { password: pool.options.password } : {}),
    max: OPERATIONS_CONNECTIONS,
    application_name: `${pool.options.application_name ?? "toolset-release-service"}:operations`,
  });
  ignoreClientErrors(operationsPool);
  const operationsGuard = new GuardedPool(operationsPool, { queryTimeoutMs, queueMax: OPERATIONS_QUEUE_MAX, requestBound: false });
  const guard = new GuardedPool(pool, { queryTimeoutMs, queueMax, requestBound: true, cancelBackend: backendCanceller(operationsGuard) });
  const onQuery = opts.onQuery;
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({
      pool: {
        connect: () => guard.connect(),
        end: async () => {
          await Promise.all([pool.end(), operationsPool.end()]);
        },
      },
    }),
    ...(onQuery ? { log: (event) => onQuery(event.query.sql) } : {}),
  });
  parts.set(db, {
    writes: new WritePermits(opts.writeConnections ?? pool.options.max, { waitMs: pool.options.connectionTimeoutMillis ?? 5_000, queueMax }),
    // Never destroyed itself: ending the pool above ends its connections.
    operations: new Kysely<Database>({ dialect: new PostgresDialect({ pool: operationsGuard }) }),
    operationsPool,
  });
  return db;
}

/** Waits for a write permit of `db` (see WritePermits); resolves with the function that gives it back. */
export async function writePermit(db: Kysely<Database>): Promise<() => void> {
  const writes = parts.get(db)?.writes;
  return writes ? writes.acquire() : () => undefined;
}

/** A handle over `db`'s operations connections, which the pool's load cannot starve; `db` itself when it has none. */
export function operationsDb(db: Kysely<Database>): Kysely<Database> {
  return parts.get(db)?.operations ?? db;
}

/** The pool of `db`'s operations connections (for /metrics), if it has one. */
export function operationsPool(db: Kysely<Database>): pg.Pool | undefined {
  return parts.get(db)?.operationsPool;
}
