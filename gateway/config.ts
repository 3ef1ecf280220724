import { parseUpstreamAllowList, type UpstreamAllowList } from "./upstream/guard.js";

/** Typed configuration of the gateway, read once from the environment at start-up. */
export interface GatewayConfig {
  host: string;
  port: number;
  /** The release service (Connect, gRPC or gRPC-Web on one port); the gateway calls it with gRPC over HTTP/2. */
  tsrUrl: string;
  logLevel: "debug" | "info" | "warn" | "error";
  /** GATEWAY_UPSTREAM_ALLOW: the upstream hosts and networks tools/call may reach (empty = public addresses only). */
  upstreamAllow: UpstreamAllowList;
  /** Host names (Host header, without port) the gateway answers; ["*"] turns the check off. */
  allowedHosts: string[];
  /** Origins allowed besides those whose host is an allowed host; ["*"] allows any. */
  allowedOrigins: string[];
  /** Largest MCP request body read, in bytes (413 beyond). */
  maxRequestBytes: number;
  /** Whole tools/call upstream exchange, connect to last byte. */
  upstreamTimeoutMs: number;
  /** Largest upstream response body turned into a tool result. */
  upstreamMaxResponseBytes: number;
  /** How long an endpoint's shared WatchToolset stays open after its last client left. */
  endpointIdleMs: number;
  /** A legacy (2025-era) session unused this long is closed. */
  sessionIdleMs: number;
  /** Longest wait for the release service's first answer for an endpoint. */
  resolveTimeoutMs: number;
  /** How long a user has to answer a tool's confirmation (2025-era sessions; 2026 clients retry in their own time). */
  confirmTimeoutMs: number;
  /** Open 2025-era sessions in this process; initialize beyond it is 503. */
  maxSessions: number;
  /** Open 2026-07-28 `subscriptions/listen` streams per endpoint and credential (the SDK refuses more). */
  listenStreamsPerEndpoint: number;
  /** ttlMs on 2026-07-28 list results (cacheScope is public for anonymous endpoints, private otherwise). */
  listTtlMs: number;
  /** MCP requests per second one client address may make (token bucket, in memory per process); 0 = no limit. */
  rateLimitPerSecond: number;
  /** Requests a client address may make at once before the rate applies (the bucket's size). */
  rateLimitBurst: number;
  /** How long an endpoint the service answered "not found" or "unauthenticated" for is answered so without asking again (per credential); 0 = never cached. */
  notFoundTtlMs: number;
  /** tools/call requests worked on at once in this process; more are answered "overloaded" at once. */
  maxConcurrentCalls: number;
  /** 2025-era sessions plus 2026-07-28 listen streams one client address may hold open. */
  maxSessionsPerClient: number;
  /** Proxies in front of the gateway whose X-Forwarded-For entries are trusted (0 = the socket's address is the client's). */
  trustedProxyHops: number;
  /** Longest wait for a request's headers (slow clients are cut off with 408). */
  headersTimeoutMs: number;
  /** Longest wait for a whole request (headers and body); a response streaming afterwards is not bound by it. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection (between requests) is closed after this long. */
  keepAliveTimeoutMs: number;
  shutdownTimeoutMs: number;
}

/** A configuration value that cannot be used; the message names the variable. */
export class GatewayConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`invalid configuration: ${variable}: ${message}`);
    this.name = "GatewayConfigError";
  }
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string, fallback: string): string {
  const v = env[name];
  return v === undefined || v.trim() === "" ? fallback : v.trim();
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new GatewayConfigError(name, `must be an integer, got ${JSON.stringify(raw)}`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new GatewayConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function list(env: Env, name: string): string[] {
  return str(env, name, "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

function httpUrl(env: Env, name: string, fallback: string): string {
  const raw = str(env, name, fallback);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new GatewayConfigError(name, `must be an http:// or https:// URL, got ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new GatewayConfigError(name, `must be an http:// or https:// URL, got ${JSON.stringify(raw)}`);
  }
  return raw.replace(/\/+$/, "");
}

function origins(env: Env, name: string): string[] {
  const values = list(env, name);
  for (const o of values) {
    if (o === "*") continue;
    let url: URL | undefined;
    try {
      url = new URL(o);
    } catch {
      url = undefined;
    }
    if (url === undefined || url.origin === "null" || url.origin !== o) {
      throw new GatewayConfigError(name, `${JSON.stringify(o)} is not an origin (scheme://host[:port], such as https://app.example.com)`);
    }
  }
  return values;
}

function upstreamAllow(env: Env): UpstreamAllowList {
  try {
    return parseUpstreamAllowList(str(env, "GATEWAY_UPSTREAM_ALLOW", ""));
  } catch (err) {
    throw new GatewayConfigError("GATEWAY_UPSTREAM_ALLOW", err instanceof Error ? err.message : String(err));
  }
}

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"];
const WILDCARD_HOSTS = new Set(["0.0.0.0", "::", ""]);

/** Reads and validates the whole configuration; throws GatewayConfigError on the first bad value. */
export function loadGatewayConfig(env: Env = process.env): GatewayConfig {
  const logLevel = str(env, "LOG_LEVEL", "info").toLowerCase();
  if (logLevel !== "debug" && logLevel !== "info" && logLevel !== "warn" && logLevel !== "error") {
    throw new GatewayConfigError("LOG_LEVEL", `must be one of debug, info, warn, error, got ${JSON.stringify(env["LOG_LEVEL"])}`);
  }
  const host = str(env, "GATEWAY_HOST", "127.0.0.1");
  if (/\s/.test(host)) throw new GatewayConfigError("GATEWAY_HOST", "must be a host name or address");
  const hosts = list(env, "GATEWAY_ALLOWED_HOSTS").map((h) => h.toLowerCase());
  for (const h of hosts) {
    if (h !== "*" && !/^[a-z0-9.:\-[\]]+$/.test(h)) throw new GatewayConfigError("GATEWAY_ALLOWED_HOSTS", `${JSON.stringify(h)} is not a host name`);
  }
  // By default the gateway answers the names it can be reached by on this machine,
  // plus the address it binds (when that is not a wildcard): DNS rebinding needs
  // a foreign name pointing at us, which this refuses.
  const allowedHosts =
    hosts.length > 0
      ? hosts.map((h) => h.replace(/^\[(.*)\]$/, "$1"))
      : [...new Set([...LOOPBACK_NAMES, ...(WILDCARD_HOSTS.has(host) ? [] : [host.toLowerCase().replace(/^\[(.*)\]$/, "$1")])])];
  return {
    host,
    port: int(env, "GATEWAY_PORT", 8081, 0, 65535),
    tsrUrl: httpUrl(env, "TSR_URL", "http://127.0.0.1:8080"),
    logLevel,
    upstreamAllow: upstreamAllow(env),
    allowedHosts,
    allowedOrigins: origins(env, "GATEWAY_ALLOWED_ORIGINS"),
    maxRequestBytes: int(env, "GATEWAY_MAX_REQUEST_BYTES", 1024 * 1024, 1024, 64 * 1024 * 1024),
    upstreamTimeoutMs: int(env, "GATEWAY_UPSTREAM_TIMEOUT_MS", 30_000, 10, 600_000),
    upstreamMaxResponseBytes: int(env, "GATEWAY_UPSTREAM_MAX_RESPONSE_BYTES", 1024 * 1024, 1024, 256 * 1024 * 1024),
    endpointIdleMs: int(env, "GATEWAY_ENDPOINT_IDLE_MS", 30_000, 0, 3_600_000),
    sessionIdleMs: int(env, "GATEWAY_SESSION_IDLE_MS", 30 * 60_000, 1_000, 24 * 3_600_000),
    resolveTimeoutMs: int(env, "GATEWAY_RESOLVE_TIMEOUT_MS", 10_000, 100, 120_000),
    listTtlMs: int(env, "GATEWAY_LIST_TTL_MS", 60_000, 0, 24 * 3_600_000),
    confirmTimeoutMs: int(env, "GATEWAY_CONFIRM_TIMEOUT_MS", 10 * 60_000, 1_000, 24 * 3_600_000),
    maxSessions: int(env, "GATEWAY_MAX_SESSIONS", 10_000, 1, 10_000_000),
    listenStreamsPerEndpoint: int(env, "GATEWAY_LISTEN_STREAMS_PER_ENDPOINT", 10_000, 1, 1_000_000),
    ...rateLimit(env),
    notFoundTtlMs: int(env, "GATEWAY_NOT_FOUND_TTL_MS", 5_000, 0, 3_600_000),
    maxConcurrentCalls: int(env, "GATEWAY_MAX_CONCURRENT_CALLS", 256, 1, 1_000_000),
    maxSessionsPerClient: int(env, "GATEWAY_MAX_SESSIONS_PER_CLIENT", 1_000, 1, 10_000_000),
    trustedProxyHops: int(env, "GATEWAY_TRUSTED_PROXY_HOPS", 0, 0, 10),
    ...httpTimeouts(env),
    shutdownTimeoutMs: int(env, "SHUTDOWN_TIMEOUT_MS", 10_000, 0, 600_000),
  };
}

/** GATEWAY_RATE_LIMIT_PER_SECOND and GATEWAY_RATE_LIMIT_BURST (default twice the rate, at least 1). */
function rateLimit(env: Env): Pick<GatewayConfig, "rateLimitPerSecond" | "rateLimitBurst"> {
  const rate = int(env, "GATEWAY_RATE_LIMIT_PER_SECOND", 50, 0, 1_000_000);
  const defaultBurst = env["GATEWAY_RATE_LIMIT_PER_SECOND"]?.trim() ? Math.max(1, rate * 2) : 100;
  return { rateLimitPerSecond: rate, rateLimitBurst: int(env, "GATEWAY_RATE_LIMIT_BURST", defaultBurst, 1, 10_000_000) };
}

/** The HTTP server's timeouts; Node.js refuses a headers timeout longer than the request timeout, so this does first, naming the variable. */
function httpTimeouts(env: Env): Pick<GatewayConfig, "headersTimeoutMs" | "requestTimeoutMs" | "keepAliveTimeoutMs"> {
  const headersTimeoutMs = int(env, "GATEWAY_HEADERS_TIMEOUT_MS", 10_000, 100, 600_000);
  const requestTimeoutMs = int(env, "GATEWAY_REQUEST_TIMEOUT_MS", 30_000, 100, 3_600_000);
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new GatewayConfigError(
      "GATEWAY_HEADERS_TIMEOUT_MS",
      `must not be longer than GATEWAY_REQUEST_TIMEOUT_MS (${requestTimeoutMs}), got ${headersTimeoutMs}`,
    );
  }
  return { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs: int(env, "GATEWAY_KEEP_ALIVE_TIMEOUT_MS", 65_000, 100, 3_600_000) };
}
