import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Code, type ConnectError } from "@connectrpc/connect";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { ERROR_REASONS } from "./errors.js";

/**
 * What /metrics reads at each scrape (collect callbacks), as plain shapes:
 * platform/ does not import serving/, and the counters already kept there are
 * read rather than counted twice.
 */
export interface MetricsSources {
  /** ServedState. */
  served: {
    readonly enabled: boolean;
    readonly stats: Readonly<Record<"hits" | "misses" | "discardedFills" | "evictions" | "entries" | "bytes", number>>;
  };
  /** The served state's bound, in bytes (0 = off). */
  servedStateMaxBytes: number;
  /** WatchHub. */
  watches: { readonly stats: Readonly<Record<"topics" | "watchers" | "refreshes", number>> };
  /** ChangeListener; undefined when the change feed is off. */
  listener:
    | { readonly stats: Readonly<{ up: boolean } & Record<"notices" | "malformed" | "reconnects" | "connectFailures" | "lastLagMs", number>> }
    | undefined;
  /** Database pools by name (a pg.Pool fits); the `pool` label. */
  pools: Readonly<Record<string, PoolCounts>>;
  /** HTTP requests (RPCs and streams) being served now. */
  inFlight(): number;
}

/** The counts of a pg.Pool that /metrics reports. */
export interface PoolCounts {
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
  readonly options?: { readonly max?: number | undefined };
}

/** What the RPC layer reports; see {@link createMetrics}. */
export interface Metrics {
  /** The app's own registry (RPCs, pool, served state, feed, watches). */
  readonly registry: Registry;
  /** `text/plain; version=0.0.4; charset=utf-8`. */
  readonly contentType: string;
  /** The Prometheus text of this app's metrics and the process's. */
  render(): Promise<string>;
  /**
   * An RPC ended, with `error` or OK; a refusal with a retry hint is also
   * counted by its reason (see {@link refusalReason}). `seconds` is its latency,
   * for unary RPCs only (a stream's lifetime is not a latency). `procedure` is
   * `/package.Service/Method`; one this app does not serve is counted as
   * "unknown". The observe interceptor reports every RPC that reaches it; code
   * that answers an RPC before the interceptors run reports it itself.
   */
  rpcEnded(procedure: string, error: ConnectError | undefined, seconds: number | undefined): void;
  /** A request refused outside any RPC (no procedure to count it under), by ErrorInfo reason. */
  refused(reason: string): void;
  /** A change notice arrived `lagMs` after its writing transaction began. */
  noticeLag(lagMs: number): void;
}

/** Latency buckets, 1 ms to 30 s. */
const RPC_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Change-feed lag buckets, 5 ms to 30 s. */
const LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const PREFIX = "toolset_release_";
const KNOWN_REASONS = new Set<string>(Object.values(ERROR_REASONS));

let processRegistry: Registry | undefined;

/**
 * Process metrics (CPU, memory, event loop, GC) are the process's, not an
 * app's: one registry per process, so tests that start several apps do not
 * add an event-loop monitor and a GC observer each.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/**
 * The metrics of one app, in a registry of its own (never prom-client's global
 * one: tests run several apps in one process). Labels are low-cardinality by
 * construction: procedures this app serves, code names, refusal reasons from
 * ERROR_REASONS, pool names given by the caller; never slugs, keys or addresses.
 * `procedures` (the routes, `/package.Service/Method`) is read at each report, so
 * the app may fill it as it registers its routes.
 */
export function createMetrics(procedures: ReadonlySet<string>, sources: () => MetricsSources): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const name = (s: string) => PREFIX + s;

  const rpcs = new Counter({
    name: name("rpc_requests_total"),
    help: "RPCs that ended, by procedure and status code (streams count when they end).",
    labelNames: ["procedure", "code"] as const,
    registers,
  });
  const latency = new Histogram({
    name: name("rpc_duration_seconds"),
    help: "Latency of unary RPCs (interceptors and handler; not the transfer of the response), by procedure.",
    labelNames: ["procedure"] as const,
    buckets: RPC_BUCKETS,
    registers,
  });
  const refusals = new Counter({
    name: name("requests_refused_total"),
    help: "Calls refused with a retry hint (RESOURCE_EXHAUSTED, ABORTED, UNAVAILABLE with RetryInfo), by ErrorInfo reason.",
    labelNames: ["reason"] as const,
    registers,
  });
  // The reasons a refusal has today start at 0, so a rate over them exists before the first one.
  for (const reason of [ERROR_REASONS.RATE_LIMITED, ERROR_REASONS.OVERLOADED, ERROR_REASONS.LOCK_TIMEOUT]) refusals.inc({ reason }, 0);
  const refuse = (reason: string) => refusals.inc({ reason: KNOWN_REASONS.has(reason) ? reason : "other" });
  new Gauge({
    name: name("requests_in_flight"),
    help: "HTTP requests (unary RPCs and open streams) being served now.",
    registers,
    collect() {
      this.set(sources().inFlight());
    },
  });

  // Pools.
  new Gauge({
    name: name("db_pool_connections"),
    help: "Database pool connections, by pool and state (in_use, idle).",
    labelNames: ["pool", "state"] as const,
    registers,
    collect() {
      this.reset();
      for (const [pool, counts] of Object.entries(sources().pools)) {
        this.set({ pool, state: "in_use" }, counts.totalCount - counts.idleCount);
        this.set({ pool, state: "idle" }, counts.idleCount);
      }
    },
  });
  new Gauge({
    name: name("db_pool_waiting"),
    help: "Checkouts waiting for a pool connection, by pool.",
    labelNames: ["pool"] as const,
    registers,
    collect() {
      this.reset();
      for (const [pool, counts] of Object.entries(sources().pools)) this.set({ pool }, counts.waitingCount);
    },
  });
  new Gauge({
    name: name("db_pool_max_connections"),
    help: "The pool's bound (DB_POOL_MAX), by pool.",
    labelNames: ["pool"] as const,
    registers,
    collect() {
      this.reset();
      for (const [pool, counts] of Object.entries(sources().pools)) {
        const max = counts.options?.max;
        if (max !== undefined) this.set({ pool }, max);
      }
    },
  });

  // Served state.
  const servedCounter = (metric: string, help: string, stat: "hits" | "misses" | "discardedFills" | "evictions") =>
    mirrorCounter(name(metric), help, registers, () => sources().served.stats[stat]);
  servedCounter("served_state_hits_total", "Reads answered from the served state.", "hits");
  servedCounter(
    "served_state_misses_total",
    "Reads the served state did not hold (filled from the database, or not held while the feed is down).",
    "misses",
  );
  servedCounter("served_state_evictions_total", "Entries dropped to stay within SERVED_STATE_MAX_MB.", "evictions");
  servedCounter("served_state_discarded_fills_total", "Fills not stored because a change touched them while they read.", "discardedFills");
  new Gauge({
    name: name("served_state_entries"),
    help: "Entries held in the served state.",
    registers,
    collect() {
      this.set(sources().served.stats.entries);
    },
  });
  new Gauge({
    name: name("served_state_bytes"),
    help: "Estimated bytes held in the served state.",
    registers,
    collect() {
      this.set(sources().served.stats.bytes);
    },
  });
  new Gauge({
    name: name("served_state_max_bytes"),
    help: "The served state's bound (SERVED_STATE_MAX_MB), in bytes; 0 = off.",
    registers,
    collect() {
      this.set(sources().servedStateMaxBytes);
    },
  });
  new Gauge({
    name: name("served_state_enabled"),
    help: "1 when reads are served from memory (the change feed is up and the bound is not 0), else 0.",
    registers,
    collect() {
      this.set(sources().served.enabled ? 1 : 0);
    },
  });

  // Change feed.
  const feed = () => sources().listener?.stats;
  new Gauge({
    name: name("change_feed_up"),
    help: "1 while the change feed's LISTEN is in place, else 0 (also 0 when the feed is off).",
    registers,
    collect() {
      this.set(feed()?.up ? 1 : 0);
    },
  });
  mirrorCounter(name("change_feed_notices_total"), "Change notices received and applied.", registers, () => feed()?.notices ?? 0);
  mirrorCounter(
    name("change_feed_malformed_notices_total"),
    "Change notices not understood (everything held was dropped).",
    registers,
    () => feed()?.malformed ?? 0,
  );
  mirrorCounter(
    name("change_feed_reconnects_total"),
    "Times the change feed came back after having been up.",
    registers,
    () => feed()?.reconnects ?? 0,
  );
  mirrorCounter(
    name("change_feed_connect_failures_total"),
    "Failed attempts to connect the change feed.",
    registers,
    () => feed()?.connectFailures ?? 0,
  );
  new Gauge({
    name: name("change_feed_last_lag_seconds"),
    help: "Of the last change notice: from its writing transaction's start to its arrival here.",
    registers,
    collect() {
      this.set((feed()?.lastLagMs ?? 0) / 1000);
    },
  });
  const lag = new Histogram({
    name: name("change_feed_lag_seconds"),
    help: "From a writing transaction's start to the arrival of its change notice here.",
    buckets: LAG_BUCKETS,
    registers,
  });

  // Watches.
  new Gauge({
    name: name("watch_streams_open"),
    help: "Open WatchToolset streams.",
    registers,
    collect() {
      this.set(sources().watches.stats.watchers);
    },
  });
  new Gauge({
    name: name("watch_topics"),
    help: "Watched targets (streams watching the same target share one topic).",
    registers,
    collect() {
      this.set(sources().watches.stats.topics);
    },
  });
  mirrorCounter(
    name("watch_refreshes_total"),
    "Reloads of watched topics (after a change, or polled while the feed is down).",
    registers,
    () => sources().watches.stats.refreshes,
  );

  return {
    registry,
    contentType: registry.contentType,
    async render() {
      return (await processMetrics().metrics()) + (await registry.metrics());
    },
    rpcEnded(procedure, error, seconds) {
      const label = procedures.has(procedure) ? procedure : "unknown";
      rpcs.inc({ procedure: label, code: codeName(error) });
      if (seconds !== undefined) latency.observe({ procedure: label }, seconds);
      const reason = error && refusalReason(error);
      if (reason !== undefined) refuse(reason);
    },
    refused: refuse,
    noticeLag(lagMs) {
      lag.observe(Math.max(0, lagMs) / 1000);
    },
  };
}

/** A counter that reports a count kept elsewhere (monotonic there), read at each scrape. */
function mirrorCounter(name: string, help: string, registers: Registry[], read: () => number): void {
  new Counter({
    name,
    help,
    registers,
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/**
 * The ErrorInfo reason of an error that asks the client to retry later (it
 * carries a RetryInfo: see retryLater in errors.ts); undefined for any other.
 */
export function refusalReason(error: ConnectError): string | undefined {
  if (error.findDetails(RetryInfoSchema).length === 0) return undefined;
  return error.findDetails(ErrorInfoSchema)[0]?.reason ?? "other";
}

/**
 * Serves GET /metrics alone on its own port (METRICS_PORT), so the service port
 * need not expose it. Resolves once listening.
 */
export async function serveMetrics(metrics: Metrics, port: number, host: string): Promise<{ address: AddressInfo; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.method === "GET" && (req.url ?? "/").split("?")[0] === "/metrics") void writeMetrics(metrics, res);
    else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Answers a scrape: the Prometheus text, or 500 when a collect callback threw. */
export async function writeMetrics(
  metrics: Metrics,
  res: { writeHead(status: number, headers: Record<string, string>): unknown; end(body: string): unknown },
): Promise<void> {
  try {
    const body = await metrics.render();
    res.writeHead(200, { "content-type": metrics.contentType, "cache-control": "no-store" });
    res.end(body);
  } catch {
    res.writeHead(500, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
    res.end("metrics unavailable\n");
  }
}

/** A ConnectError's code as a label value (`OK` for success), as logs spell it. */
export function codeName(error: ConnectError | undefined): string {
  return error ? (Code[error.code] ?? "Unknown") : "OK";
}
