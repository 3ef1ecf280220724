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

const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** Reads and validates the whole configuration; throws ConfigError on the first bad value. */
export function loadConfig(env: Env = process.env): Config {
  const logLevel = str(env, "LOG_LEVEL", "info").toLowerCase();
  if (!LOG_LEVELS.includes(logLevel as LogLevel)) {
    throw new ConfigError("LOG_LEVEL", `must be one of ${LOG_LEVELS.join(", ")}, got ${JSON.stringify(env["LOG_LEVEL"])}`);
  }
  const host = str(env, "HOST", "127.0.0.1");
  if (/\s/.test(host)) throw new ConfigError("HOST", "must be a host name or address");
  return {
    databaseUrl: databaseUrl(env),
    host,
    port: int(env, "PORT", 8080, 0, 65535),
    logLevel: logLevel as LogLevel,
    corsAllowedOrigins: origins(env),
    migrateOnStart: bool(env, "MIGRATE_ON_START", true),
    dbPoolMax: int(env, "DB_POOL_MAX", 10, 1, 1000),
    dbStatementTimeoutMs: int(env, "DB_STATEMENT_TIMEOUT_MS", 15_000, 0, 3_600_000),
    maxRequestBytes: int(env, "MAX_REQUEST_BYTES", 4 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    shutdownTimeoutMs: int(env, "SHUTDOWN_TIMEOUT_MS", 20_000, 0, 600_000),
    dataDir: str(env, "DATA_DIR", ".data"),
    embeddedPgPort: env["EMBEDDED_PG_PORT"] === undefined || env["EMBEDDED_PG_PORT"] === "" ? undefined : int(env, "EMBEDDED_PG_PORT", 0, 1, 65535),
    listenDatabaseUrl:
      env["LISTEN_DATABASE_URL"] === undefined || env["LISTEN_DATABASE_URL"] === "" ? undefined : postgresUrl(env, "LISTEN_DATABASE_URL"),
    servedStateMaxMb: int(env, "SERVED_STATE_MAX_MB", 256, 0, 1024 * 1024),
    watchKeepaliveMs: int(env, "WATCH_KEEPALIVE_MS", 15_000, 100, 30_000),
  };
}
