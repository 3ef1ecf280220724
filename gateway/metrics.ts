import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/**
 * Methods a label may name; anything else a client sends is "other", so a
 * client cannot grow the series count. Besides MCP's methods: "batch" (a JSON
 * array), "response" (a JSON-RPC response such as an elicitation answer),
 * "stream" (a 2025-era GET stream), "session/delete", and "none" for requests
 * refused before their body was read.
 */
const KNOWN_METHODS = new Set([
  "initialize",
  "ping",
  "tools/list",
  "tools/call",
  "prompts/list",
  "prompts/get",
  "resources/list",
  "resources/read",
  "resources/templates/list",
  "resources/subscribe",
  "resources/unsubscribe",
  "completion/complete",
  "logging/setLevel",
  "subscriptions/listen",
  "server/discover",
  "notifications/initialized",
  "notifications/cancelled",
  "notifications/progress",
  "notifications/roots/list_changed",
  "batch",
  "response",
  "stream",
  "session/delete",
  "none",
]);

/** The method label of a request: a known method, else "other". */
export function methodLabel(method: string | undefined): string {
  if (method === undefined) return "none";
  return KNOWN_METHODS.has(method) ? method : "other";
}

/** Why the gateway refused a request without serving it (the `reason` label of gateway_refusals_total). */
export type RefusalReason =
  "rate_limited" | "max_sessions" | "sessions_per_client" | "overloaded" | "body_too_large" | "forbidden_host" | "shutting_down";

/** What the gauges read when scraped. */
export interface GaugeSources {
  /** Open 2025-era sessions. */
  legacySessions(): number;
  /** Open 2026-07-28 listen streams. */
  listenStreams(): number;
  /** Open WatchToolset streams (one per endpoint and credential). */
  watches(): number;
  /** tools/call requests being worked on. */
  callsInFlight(): number;
}

/** Upper bounds of request latencies, in seconds (a tools/call may take the upstream's 30 s; a listen stream is counted when it ends, hours later: +Inf). */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * The gateway's Prometheus metrics, in a Registry of its own (one per gateway,
 * so two gateways in one process, as in tests, count apart). Labels are
 * bounded sets: never a slug, key, tool name or address.
 */
export class GatewayMetrics {
  readonly registry = new Registry();

  /** The text of a scrape: the process's metrics, then this gateway's. */
  async text(): Promise<string> {
    return (await processMetrics().metrics()) + (await this.registry.metrics());
  }
  private sources: GaugeSources | undefined;

  /** MCP requests by era ("2025", "2026", "none" before it was known), method and outcome. */
  readonly requests = new Counter({
    name: "gateway_mcp_requests_total",
    help: "MCP requests answered, by protocol era, method and outcome",
    labelNames: ["era", "method", "outcome"] as const,
    registers: [this.registry],
  });

  readonly requestDuration = new Histogram({
    name: "gateway_mcp_request_duration_seconds",
    help: "Time from an MCP request's arrival to the end of its response (a stream: until it ended)",
    labelNames: ["era", "method"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly listChanged = new Counter({
    name: "gateway_list_changed_sent_total",
    help: "list_changed notifications sent to sessions (2025) and listen streams (2026), by era and list",
    labelNames: ["era", "list"] as const,
    registers: [this.registry],
  });

  readonly upstreamCalls = new Counter({
    name: "gateway_upstream_calls_total",
    help: "tools/call upstream HTTP calls, by outcome (ok, http_error, timeout, too_large, refused, network_error, bad_arguments, cancelled)",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });

  readonly upstreamDuration = new Histogram({
    name: "gateway_upstream_call_duration_seconds",
    help: "Duration of tools/call upstream HTTP calls, guard and DNS included, by outcome",
    labelNames: ["outcome"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly watchOpens = new Counter({
    name: "gateway_endpoint_opens_total",
    help: "Endpoints opened (a WatchToolset's first answer), by result: ok, unauthenticated, not_found, unavailable",
    labelNames: ["result"] as const,
    registers: [this.registry],
  });

  readonly watchReconnects = new Counter({
    name: "gateway_endpoint_watch_reconnects_total",
    help: "WatchToolset streams reopened after a break (service restart, network cut, silence)",
    registers: [this.registry],
  });

  readonly notFoundCacheHits = new Counter({
    name: "gateway_endpoint_refusals_cached_total",
    help: "Requests answered 401/404 from a refusal the service gave for the same endpoint and credential within GATEWAY_NOT_FOUND_TTL_MS (no watch opened)",
    registers: [this.registry],
  });

  readonly refusals = new Counter({
    name: "gateway_refusals_total",
    help: "Requests refused before they were served, by reason",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });

  constructor() {
    // The gauges read the gateway's own counts when scraped, so they cannot drift.
    const metrics = () => this.sources;
    new Gauge({
      name: "gateway_sessions_open",
      help: "Open sessions by era: 2025-era sessions, 2026-07-28 listen streams",
      labelNames: ["era"] as const,
      registers: [this.registry],
      collect() {
        const s = metrics();
        this.set({ era: "2025" }, s?.legacySessions() ?? 0);
        this.set({ era: "2026" }, s?.listenStreams() ?? 0);
      },
    });
    new Gauge({
      name: "gateway_endpoint_watches_open",
      help: "WatchToolset streams open to the release service (one per endpoint and credential)",
      registers: [this.registry],
      collect() {
        this.set(metrics()?.watches() ?? 0);
      },
    });
    new Gauge({
      name: "gateway_tool_calls_in_flight",
      help: "tools/call requests being worked on",
      registers: [this.registry],
      collect() {
        this.set(metrics()?.callsInFlight() ?? 0);
      },
    });
  }

  /** Connects the gauges to what they count (once the gateway's parts exist). */
  observe(sources: GaugeSources): void {
    this.sources = sources;
  }

  /** Counts an upstream call. */
  upstreamCall(outcome: string, seconds: number): void {
    this.upstreamCalls.inc({ outcome });
    this.upstreamDuration.observe({ outcome }, seconds);
  }
}

let processRegistry: Registry | undefined;

/**
 * Process metrics (CPU, memory, event loop, GC) belong to the process, not to a
 * gateway: one registry per process, so tests that start several gateways do
 * not each add an event-loop monitor and a GC observer that nothing stops.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}
