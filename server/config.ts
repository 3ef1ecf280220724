import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Typed configuration, read once from the environment at start-up. */
export interface Config {
  /** External PostgreSQL; undefined = start the embedded one. */
  databaseUrl: string | undefined;
  host: string;
  port: number;
  logLevel: LogLevel;
  /** Origins allowed by CORS; "*" allows any. Empty = CORS off. */
  corsAllowedOrigins: string[];
  migrateOnStart: boolean;
  dbPoolMax: number;
  dbStatementTimeoutMs: number;
  maxRequestBytes: number;
  shutdownTimeoutMs: number;
  dataDir: string;
  /** Port of the embedded PostgreSQL; undefined = a free port chosen at its start. */
  embeddedPgPort: number | undefined;
  /** Where the change feed LISTENs; undefined = the database the pool uses. */
  listenDatabaseUrl: string | undefined;
  /** Bound of the in-memory served state, in MiB; 0 = off (every read goes to the database). */
  servedStateMaxMb: number;
  /** Longest silence on a WatchToolset stream before a keepalive message. */
  watchKeepaliveMs: number;
  /** Per-replica token buckets (in memory): reads and writes per API key, anonymous resolves per client address. */
  rateLimits: RateLimits;
  /** Longest wait for a row lock before the write fails ABORTED (PostgreSQL `lock_timeout`). */
  dbLockTimeoutMs: number;
  /** Client-side bound on any one query, for a database that stops answering (a silent network path). */
  dbQueryTimeoutMs: number;
  /** Longest wait for a pool connection (and for a new connection to open). */
  dbConnectTimeoutMs: number;
  /** Pool connections write transactions may hold at once; the rest stay for reads. */
  dbWriteConnections: number;
  /** Checkouts that may wait for a pool connection; more are refused at once (RESOURCE_EXHAUSTED). */
  dbPoolQueueMax: number;
  /** Unary RPCs this process works on at once; more are refused at once (RESOURCE_EXHAUSTED). */
  maxInFlight: number;
  /**
   * Streams one HTTP/2 connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
   * Above maxStreamsPerClient: a client multiplexing its watches on one connection
   * (the gateway) hits that cap's refusal first, and keeps room for unary calls;
   * Node's client queues streams past this setting without a word.
   */
  http2MaxConcurrentStreams: number;
  /** An HTTP/2 connection with no open stream for this long is closed (GOAWAY). */
  idleConnectionTimeoutMs: number;
  /** Open server streams (WatchToolset, health Watch) one client address may hold. */
  maxStreamsPerClient: number;
  /** Open grpc.health.v1.Health/Watch streams in all (they need no key). */
  maxHealthWatches: number;
  /** Proxies in front of the service whose X-Forwarded-For entries are trusted (0 = use the socket address). */
  trustedProxyHops: number;
  /** Where GET /metrics is served: undefined = on the service port; a port = there only (on HOST), not on the service port. */
  metricsPort: number | undefined;
  /** Whether /console/ serves the console (false: those paths are 404). */
  consoleEnabled: boolean;
  /** The console's production build (Vite's output), served at /console/. */
  consoleDir: string;
  /** The base URL MCP clients reach the gateway at (no trailing slash), for the console's endpoint URLs; "" = not known. */
  gatewayPublicUrl: string;
}

/** One token bucket's shape; `perSecond` 0 turns the limit off. */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

/** The rate limits of RATE_LIMIT_*. */
export interface RateLimits {
  /** Per API key, for reads (NO_SIDE_EFFECTS RPCs). */
  read: RateLimit;
  /** Per API key, for writes. */
  write: RateLimit;
  /** Per client address, for calls without a key (public resolves and watches). */
  anonymous: RateLimit;
}

export type LogLevel = "debug" | "info" | "warn" | "error";

/** A configuration value that cannot be used; the message names the variable. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`invalid configuration: ${variable}: ${message}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string, fallback: string): string {
  const v = env[name];
  return v === undefined || v === "" ? fallback : v;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `must be an integer, got ${JSON.stringify(raw)}`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  switch (raw.trim().toLowerCase()) {
    case "true":
    case "1":
    case "yes":
      return true;
    case "false":
    case "0":
    case "no":
      return false;
    default:
      throw new ConfigError(name, `must be true or false, got ${JSON.stringify(raw)}`);
  }
}

function databaseUrl(env: Env): string | undefined {
  const raw = env["DATABASE_URL"];
  if (raw === undefined || raw === "") return undefined;
  return postgresUrl(env, "DATABASE_URL");
}

function postgresUrl(env: Env, name: string): string {
  const raw = env[name] ?? "";
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, "must be a postgres:// URL");
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new ConfigError(name, `must use the postgres:// scheme, got ${url.protocol}`);
  }
  return raw;
}

function origins(env: Env): string[] {
  const raw = str(env, "CORS_ALLOWED_ORIGINS", "");
  const list = raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const shape = "an origin is scheme://host[:port] with no path, such as http://localhost:3000 or https://app.example.com";
  for (const o of list) {
    if (o === "*") continue;
    let url: URL | undefined;
    try {
      url = new URL(o);
    } catch {
      url = undefined;
    }
    // "localhost:3000" parses as a URL of scheme "localhost:" whose origin is "null".
    if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:") || url.origin === "null") {
      throw new ConfigError("CORS_ALLOWED_ORIGINS", `${JSON.stringify(o)} is not an origin: ${shape}`);
    }
    if (url.origin !== o) {
      throw new ConfigError("CORS_ALLOWED_ORIGINS", `${JSON.stringify(o)} is not an origin (${shape}); did you mean ${url.origin}?`);
    }
  }
  return list;
}

/** web/dist of this checkout, found from this file's place (server/config.ts), whatever the working directory. */
const DEFAULT_CONSOLE_DIR = fileURLToPath(new URL("../web/dist", import.meta.url));

/** An absolute http(s) URL without query or fragment, trailing slashes dropped; "" when unset. */
function publicUrl(env: Env, name: string): string {
  const raw = str(env, name, "").trim();
  if (raw === "") return "";
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, `must be an absolute http:// or https:// URL, such as http://127.0.0.1:8081, got ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new ConfigError(name, `must use http:// or https://, got ${url.protocol}`);
  if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    throw new ConfigError(name, "must be a base URL with no credentials, query or fragment");
  }
  return url.href.replace(/\/+$/, "");
}

const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** Reads and validates the whole configuration; throws ConfigError on the first bad value. */
export function loadConfig(env: Env = process.env): Config {
  const logLevel = str(env, "LOG_LEVEL", "info").toLowerCase();
  if (!LOG_LEVELS.includes(logLevel as LogLevel)) {
    throw new ConfigError("LOG_LEVEL", `must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(env["LOG_LEVEL"])}`);
  }
  const host = str(env, "HOST", "127.0.0.1");
  const poolMax = int(env, "DB_POOL_MAX", 10, 1, 1000);
  if (/\s/.test(host)) throw new ConfigError("HOST", "must be a host name or address");
  return {
    databaseUrl: databaseUrl(env),
    host,
    port: int(env, "PORT", 8080, 0, 65535),
    logLevel: logLevel as LogLevel,
    corsAllowedOrigins: origins(env),
    migrateOnStart: bool(env, "MIGRATE_ON_START", true),
    dbPoolMax: poolMax,
    dbStatementTimeoutMs: int(env, "DB_STATEMENT_TIMEOUT_MS", 15_000, 0, 3_600_000),
    maxRequestBytes: int(env, "MAX_REQUEST_BYTES", 4 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    shutdownTimeoutMs: int(env, "SHUTDOWN_TIMEOUT_MS", 20_000, 0, 600_000),
    dataDir: str(env, "DATA_DIR", ".data"),
    embeddedPgPort: env["EMBEDDED_PG_PORT"] === undefined || env["EMBEDDED_PG_PORT"] === "" ? undefined : int(env, "EMBEDDED_PG_PORT", 0, 1, 65535),
    listenDatabaseUrl:
      env["LISTEN_DATABASE_URL"] === undefined || env["LISTEN_DATABASE_URL"] === "" ? undefined : postgresUrl(env, "LISTEN_DATABASE_URL"),
    servedStateMaxMb: int(env, "SERVED_STATE_MAX_MB", 256, 0, 1024 * 1024),
    watchKeepaliveMs: int(env, "WATCH_KEEPALIVE_MS", 15_000, 100, 30_000),
    rateLimits: {
      read: rateLimit(env, "READ", 100, 200),
      write: rateLimit(env, "WRITE", 20, 40),
      anonymous: rateLimit(env, "ANONYMOUS", 50, 100),
    },
    dbLockTimeoutMs: int(env, "DB_LOCK_TIMEOUT_MS", 2_000, 1, 600_000),
    dbQueryTimeoutMs: int(env, "DB_QUERY_TIMEOUT_MS", 20_000, 100, 3_600_000),
    dbConnectTimeoutMs: int(env, "DB_CONNECT_TIMEOUT_MS", 5_000, 100, 600_000),
    dbWriteConnections: int(env, "DB_WRITE_CONNECTIONS", Math.max(1, Math.ceil(poolMax / 2)), 1, poolMax),
    dbPoolQueueMax: int(env, "DB_POOL_QUEUE_MAX", 200, 0, 1_000_000),
    maxInFlight: int(env, "MAX_IN_FLIGHT", 512, 1, 1_000_000),
    http2MaxConcurrentStreams: int(env, "HTTP2_MAX_CONCURRENT_STREAMS", 2_000, 1, 100_000),
    idleConnectionTimeoutMs: int(env, "IDLE_CONNECTION_TIMEOUT_MS", 120_000, 1_000, 86_400_000),
    maxStreamsPerClient: int(env, "MAX_STREAMS_PER_CLIENT", 1_000, 1, 1_000_000),
    maxHealthWatches: int(env, "MAX_HEALTH_WATCHES", 100, 1, 1_000_000),
    trustedProxyHops: int(env, "TRUSTED_PROXY_HOPS", 0, 0, 10),
    metricsPort: env["METRICS_PORT"] === undefined || env["METRICS_PORT"] === "" ? undefined : int(env, "METRICS_PORT", 0, 0, 65535),
    consoleEnabled: bool(env, "CONSOLE_ENABLED", true),
    consoleDir: resolve(str(env, "CONSOLE_DIR", DEFAULT_CONSOLE_DIR)),
    gatewayPublicUrl: publicUrl(env, "GATEWAY_PUBLIC_URL"),
  };
}

/** RATE_LIMIT_<kind>_PER_SECOND and RATE_LIMIT_<kind>_BURST (default twice the rate, at least 1). */
function rateLimit(env: Env, kind: string, perSecond: number, burst: number): RateLimit {
  const rate = int(env, `RATE_LIMIT_${kind}_PER_SECOND`, perSecond, 0, 1_000_000);
  const defaultBurst = env[`RATE_LIMIT_${kind}_PER_SECOND`] ? Math.max(1, rate * 2) : burst;
  return { perSecond: rate, burst: int(env, `RATE_LIMIT_${kind}_BURST`, defaultBurst, 1, 10_000_000) };
}
