import { Code, type ConnectError } from "@connectrpc/connect";
import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from "kysely";
import type pg from "pg";
import { ERROR_REASONS, retryLater } from "../platform/errors.js";
import { currentRequest, type RequestContext } from "../platform/request-context.js";
import { isEnded, requestEnded } from "../platform/shared-work.js";

/** The RetryInfo delay of an overload refusal: long enough for a burst or a lock holder to pass. */
const OVERLOAD_RETRY_MS = 1_000;

/** pg-pool's error when a checkout waited connectionTimeoutMillis in its queue. */
const QUEUE_TIMEOUT = "timeout exceeded when trying to connect";

/** What bounds the work a {@link GuardedPool} hands to PostgreSQL. */
export interface GuardOptions {
  /** Client-side bound on each statement; past it the connection is dropped and the statement fails (UNAVAILABLE). */
  queryTimeoutMs: number;
  /** Checkouts that may wait when no connection is free; more are refused at once (RESOURCE_EXHAUSTED). */
  queueMax: number;
  /** Whether the current request's deadline and cancellation apply (not to the operations pool, which works for no request). */
  requestBound: boolean;
  /** Asks PostgreSQL to stop what backend `pid` runs (see {@link backendCanceller}). */
  cancelBackend?: (pid: number) => void;
}

/**
 * A pg pool as Kysely sees it, with every statement bounded, so that one slow
 * or silent dependency cannot hold the process:
 *
 * - a checkout is refused at once when `queueMax` checkouts already wait, and
 *   a checkout that times out while every connection is ours and busy is an
 *   overload (RESOURCE_EXHAUSTED OVERLOADED), not "database unavailable";
 * - work for a request whose deadline has passed or whose client went away
 *   does not start (DEADLINE_EXCEEDED, CANCELED), a checkout stops waiting
 *   then, and a statement running then is cancelled in PostgreSQL (so its
 *   backend stops waiting on a lock) and its connection dropped, which rolls
 *   the transaction back; COMMIT and ROLLBACK are let finish, their outcome
 *   matters more than an answer nobody waits for;
 * - a statement with no answer within `queryTimeoutMs` (a silent network
 *   path) drops its connection and fails UNAVAILABLE; the pool opens a new
 *   one for the next checkout.
 *
 * A dropped connection is released with an error, so pg-pool discards it.
 */
export class GuardedPool implements PostgresPool {
  private checkedOut = 0;

  constructor(
    readonly pool: pg.Pool,
    private readonly options: GuardOptions,
  ) {}

  async connect(): Promise<PostgresPoolClient> {
    const request = this.options.requestBound ? currentRequest() : undefined;
    const client = await this.checkout(request);
    this.checkedOut++;
    return new GuardedClient(client, request, this.options, () => this.checkedOut--);
  }

  /** One statement on a connection of its own. */
  async query<R>(sql: string, parameters: readonly unknown[] = []): Promise<PostgresQueryResult<R>> {
    const client = await this.connect();
    try {
      return await client.query<R>(sql, parameters);
    } finally {
      client.release();
    }
  }

  end(): Promise<void> {
    return this.pool.end();
  }

  private async checkout(request: RequestContext | undefined): Promise<pg.PoolClient> {
    if (request) throwIfEnded(request);
    const { pool } = this;
    // Waiters ahead of this checkout take the idle connections and the room for new ones first.
    const free = pool.idleCount + Math.max(0, pool.options.max - pool.totalCount);
    if (pool.waitingCount >= free + this.options.queueMax) throw overloaded("db_connections");
    const pending = pool.connect();
    if (!request) return pending.catch((err: unknown) => Promise.reject(this.classify(err)));
    // The request's signal aborts at its deadline too, so this also bounds the wait by the deadline.
    const ended = whenAborted(request.signal, () => requestEnded(request));
    try {
      return await Promise.race([pending, ended.promise]);
    } catch (err) {
      if (ended.fired) {
        // Still queued in pg-pool: hand the connection back whenever it comes.
        pending.then(
          (c) => c.release(),
          () => undefined,
        );
        throw err;
      }
      throw this.classify(err);
    } finally {
      ended.dispose();
    }
  }

  /** A queue timeout while every connection is checked out by this process is overload; otherwise connecting is what failed. */
  private classify(err: unknown): unknown {
    if (err instanceof Error && err.message === QUEUE_TIMEOUT && this.checkedOut >= this.pool.options.max) return overloaded("db_connections");
    return err;
  }
}

const EMPTY_RESULT: PostgresQueryResult<never> = { command: "SELECT", rowCount: 0, rows: [] };

/** One checkout: its statements are bounded as {@link GuardedPool} says. */
class GuardedClient implements PostgresPoolClient {
  /** Why this connection was given up; its backend may still be busy, so it is dropped on release. */
  private broken: unknown;
  private released = false;

  constructor(
    private readonly client: pg.PoolClient,
    private readonly request: RequestContext | undefined,
    private readonly options: GuardOptions,
    private readonly onRelease: () => void,
  ) {}

  query<R>(sql: string, parameters: readonly unknown[]): Promise<PostgresQueryResult<R>>;
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  query<R>(sqlOrCursor: string | PostgresCursor<R>, parameters: readonly unknown[] = []): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    // Cursors (Kysely's streaming) are not used by this service; they pass unguarded.
    if (typeof sqlOrCursor !== "string") return (this.client as unknown as PostgresPoolClient).query(sqlOrCursor);
    return this.run<R>(sqlOrCursor, parameters);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease();
    // An error makes pg-pool end the client: a statement still running is cut off with its socket.
    this.client.release(this.broken === undefined ? undefined : new Error("connection dropped", { cause: this.broken }));
  }

  private run<R>(sql: string, parameters: readonly unknown[]): Promise<PostgresQueryResult<R>> {
    const rollback = /^\s*rollback\b/i.test(sql);
    if (this.broken !== undefined) {
      // Dropping the connection rolls the transaction back; nothing to send.
      return rollback ? Promise.resolve(EMPTY_RESULT) : Promise.reject(this.broken);
    }
    const request = this.request;
    // A rollback always runs: it is how a failed transaction lets go of its locks.
    if (request && !rollback && isEnded(request)) return Promise.reject(requestEnded(request));
    const endsTransaction = rollback || /^\s*commit\b/i.test(sql);
    const running = this.client.query(sql, parameters as unknown[]) as Promise<pg.QueryResult>;
    return new Promise<PostgresQueryResult<R>>((resolve, reject) => {
      const give = (reason: unknown) => {
        done();
        this.giveUp(reason);
        reject(reason);
      };
      const timer = setTimeout(() => give(noAnswer(this.options.queryTimeoutMs)), this.options.queryTimeoutMs);
      const stop = request && !endsTransaction ? whenAborted(request.signal, () => requestEnded(request)) : undefined;
      stop?.promise.catch(give);
      const done = () => {
        clearTimeout(timer);
        stop?.dispose();
      };
      running.then(
        (result) => {
          done();
          resolve(result as unknown as PostgresQueryResult<R>);
        },
        (err: unknown) => {
          done();
          reject(err);
        },
      );
    });
  }

  /** Marks the connection dropped and asks PostgreSQL to stop what its backend runs (a lock wait, say). */
  private giveUp(reason: unknown): void {
    if (this.broken !== undefined) return;
    this.broken = reason;
    const pid = (this.client as unknown as { processID: number | null }).processID;
    if (pid !== null) this.options.cancelBackend?.(pid);
  }
}

/**
 * Bounds how many connections write transactions hold at once (DB_WRITE_CONNECTIONS),
 * so writes queued behind a locked row cannot take every connection from reads.
 * A write waits for a permit at most `waitMs` and until its request ends; past
 * `queueMax` waiting writes, it is refused at once.
 */
export class WritePermits {
  private free: number;
  private readonly waiters: Array<{ grant(): void }> = [];

  constructor(
    size: number,
    private readonly options: { waitMs: number; queueMax: number },
  ) {
    this.free = size;
  }

  /** Resolves with the function that gives the permit back. */
  async acquire(): Promise<() => void> {
    const request = currentRequest();
    if (request) throwIfEnded(request);
    if (this.free > 0) {
      this.free--;
      return this.releaser();
    }
    if (this.waiters.length >= this.options.queueMax) throw overloaded("db_write_connections");
    return new Promise<() => void>((resolve, reject) => {
      const waiter = {
        grant: () => {
          settle();
          resolve(this.releaser());
        },
      };
      const leave = (err: unknown) => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        settle();
        reject(err);
      };
      const timer = setTimeout(() => leave(overloaded("db_write_connections")), this.options.waitMs);
      const ended = request ? whenAborted(request.signal, () => requestEnded(request)) : undefined;
      ended?.promise.catch(leave);
      const settle = () => {
        clearTimeout(timer);
        ended?.dispose();
      };
      this.waiters.push(waiter);
    });
  }

  private releaser(): () => void {
    let given = false;
    return () => {
      if (given) return;
      given = true;
      const next = this.waiters.shift();
      if (next) next.grant();
      else this.free++;
    };
  }
}

/**
 * pg_cancel_backend through `operations`, batched: the pids given in one turn
 * of the event loop go in one statement, however many calls ended at once.
 * Best effort: a cancel that fails leaves the backend to lock_timeout and
 * statement_timeout, and its dropped connection.
 */
export function backendCanceller(operations: GuardedPool): (pid: number) => void {
  const pids = new Set<number>();
  return (pid) => {
    if (pids.size === 0) {
      setImmediate(() => {
        const batch = [...pids];
        pids.clear();
        operations.query("SELECT pg_cancel_backend(pid) FROM unnest($1::int[]) AS pid", [batch]).catch(() => undefined);
      });
    }
    pids.add(pid);
  };
}

function overloaded(resource: "db_connections" | "db_write_connections"): ConnectError {
  const what = resource === "db_connections" ? "every database connection is busy" : "every database connection for writes is busy";
  return retryLater(`overloaded: ${what}; try again`, Code.ResourceExhausted, OVERLOAD_RETRY_MS, ERROR_REASONS.OVERLOADED, { resource });
}

/** A statement PostgreSQL did not answer in time; errors.ts maps the code to UNAVAILABLE "database unavailable". */
function noAnswer(ms: number): Error {
  return Object.assign(new Error(`the database did not answer within ${ms} ms; the connection was dropped`), { code: "ETIMEDOUT" });
}

function throwIfEnded(request: RequestContext): void {
  if (isEnded(request)) throw requestEnded(request);
}

/** A promise rejected with `reason()` when `signal` aborts (at once if it has), and the listener's removal. */
function whenAborted(signal: AbortSignal, reason: () => unknown): { promise: Promise<never>; fired: boolean; dispose(): void } {
  let fire!: () => void;
  const handle = {
    fired: false,
    promise: new Promise<never>((_, reject) => {
      fire = () => {
        handle.fired = true;
        reject(reason());
      };
    }),
    dispose: () => signal.removeEventListener("abort", fire),
  };
  // Whoever races it handles the rejection; one disposed before it fires needs no handler.
  handle.promise.catch(() => undefined);
  if (signal.aborted) fire();
  else signal.addEventListener("abort", fire, { once: true });
  return handle;
}
