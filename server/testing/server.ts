import { connect as http2Connect } from "node:http2";
import type { DescService } from "@bufbuild/protobuf";
import { ConnectError, createClient, type Client, type Code, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import type { Kysely } from "kysely";
import type pg from "pg";
import { createApp, type App, type AppConfig } from "../app.js";
import { loadConfig, type Config } from "../config.js";
import type { ContextOptions } from "../context.js";
import type { Database } from "../db/database.js";
import { createDb, createPool } from "../db/pool.js";
import { silentLogger, type Logger } from "../platform/logging.js";

/** The four wire protocols a client may use, all against one port. */
export type Protocol = "connect-json" | "connect-binary" | "grpc" | "grpc-web";
export const PROTOCOLS: readonly Protocol[] = ["connect-json", "connect-binary", "grpc", "grpc-web"];

/** A real server on an ephemeral port over a test database. */
export interface TestServer {
  baseUrl: string;
  port: number;
  app: App;
  db: Kysely<Database>;
  pool: pg.Pool;
  transport(protocol: Protocol): Transport;
  /** Statements the server's database handle ran since the last reset (query-count tests). */
  queries: string[];
  /** A generated client over `protocol` (default Connect JSON on HTTP/1.1). */
  client<S extends DescService>(service: S, protocol?: Protocol): Client<S>;
  close(): Promise<void>;
}

/** The settings a test may change from the defaults of `startTestServer`. */
export type ServerOverrides = Partial<
  Omit<Config, "databaseUrl" | "host" | "port" | "logLevel" | "migrateOnStart" | "dataDir" | "embeddedPgPort" | "listenDatabaseUrl">
> &
  Partial<
    Pick<
      ContextOptions,
      "servedStateMaxBytes" | "watchKeepaliveMs" | "watchPollMs" | "listenerPingMs" | "listenerBackoffMs" | "beforeStore" | "listenUrl"
    >
  > & {
    logger?: Logger;
    /** Return before the change feed is up (default: wait for it, so reads are served from memory from the first call). */
    feedUp?: false;
  };

/**
 * The production defaults, but for what would make tests slow or flaky: a
 * shorter drain, and rate limits off (the suites make many calls with one key;
 * the rate-limit tests turn them on).
 */
export function testConfig(): AppConfig {
  const off = { perSecond: 0, burst: 1 };
  return { ...loadConfig({}), shutdownTimeoutMs: 5_000, rateLimits: { read: off, write: off, anonymous: off } };
}

/** Starts the app on 127.0.0.1:0 against `databaseUrl`. */
export async function startTestServer(databaseUrl: string, overrides: ServerOverrides = {}): Promise<TestServer> {
  const config = { ...testConfig(), ...overrides };
  // A small pool (many test servers share one PostgreSQL); writes keep its production share unless a test says otherwise.
  const max = overrides.dbPoolMax ?? 5;
  const pool = createPool({
    connectionString: databaseUrl,
    max,
    statementTimeoutMs: overrides.dbStatementTimeoutMs ?? 10_000,
    lockTimeoutMs: config.dbLockTimeoutMs,
    connectTimeoutMs: config.dbConnectTimeoutMs,
  });
  const queries: string[] = [];
  const db = createDb(pool, {
    onQuery: (q) => queries.push(q),
    queryTimeoutMs: config.dbQueryTimeoutMs,
    writeConnections: overrides.dbWriteConnections ?? Math.ceil(max / 2),
    poolQueueMax: config.dbPoolQueueMax,
  });
  const app = createApp(
    {
      db,
      logger: overrides.logger ?? silentLogger,
      servedStateMaxBytes: overrides.servedStateMaxBytes ?? 64 * 1024 * 1024,
      listenUrl: "listenUrl" in overrides ? overrides.listenUrl : databaseUrl,
      listenerBackoffMs: overrides.listenerBackoffMs ?? { min: 20, max: 200 },
      ...(overrides.watchKeepaliveMs !== undefined ? { watchKeepaliveMs: overrides.watchKeepaliveMs } : {}),
      ...(overrides.watchPollMs !== undefined ? { watchPollMs: overrides.watchPollMs } : {}),
      ...(overrides.listenerPingMs !== undefined ? { listenerPingMs: overrides.listenerPingMs } : {}),
      ...(overrides.beforeStore !== undefined ? { beforeStore: overrides.beforeStore } : {}),
      pools: { main: pool },
    },
    config,
  );
  const addr = await app.listen(0, "127.0.0.1");
  // Bounded: a test whose database is unreachable on purpose starts anyway.
  if (overrides.feedUp !== false) await Promise.race([app.context.listener?.untilUp(), new Promise((r) => setTimeout(r, 5_000).unref())]);
  const baseUrl = `http://127.0.0.1:${addr.port}`;
  const transports = new Map<Protocol, Transport>();
  const transport = (protocol: Protocol): Transport => {
    let t = transports.get(protocol);
    if (!t) {
      switch (protocol) {
        case "connect-json":
          t = createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false });
          break;
        case "connect-binary":
          t = createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true });
          break;
        case "grpc":
          t = createGrpcTransport({ baseUrl });
          break;
        case "grpc-web":
          t = createGrpcWebTransport({ baseUrl, httpVersion: "1.1" });
          break;
      }
      transports.set(protocol, t);
    }
    return t;
  };
  return {
    baseUrl,
    port: addr.port,
    app,
    db,
    pool,
    transport,
    queries,
    client: (service, protocol = "connect-json") => createClient(service, transport(protocol)),
    async close() {
      await app.shutdown();
      await db.destroy();
    },
  };
}

/** Call options carrying a bearer key. */
export function bearer(key: string): { headers: Record<string, string> } {
  return { headers: { authorization: `Bearer ${key}` } };
}

/** How a call ended: its value, or its error code and message. */
export type Attempt<T> = { ok: true; value: T } | { ok: false; code: Code; message: string };

/** The value of a call, or its error code and message; never throws. */
export async function attempt<T>(p: Promise<T>): Promise<Attempt<T>> {
  try {
    return { ok: true, value: await p };
  } catch (e) {
    const err = ConnectError.from(e);
    return { ok: false, code: err.code, message: err.rawMessage };
  }
}

/** The code and message of a call that must fail; throws when it succeeds. */
export async function failure(p: Promise<unknown>): Promise<{ code: Code; message: string }> {
  const result = await attempt(p);
  if (result.ok) throw new Error("expected the call to fail");
  return { code: result.code, message: result.message };
}

/** "ok" when the call succeeds, else its error code. */
export async function outcome(p: Promise<unknown>): Promise<Code | "ok"> {
  const result = await attempt(p);
  return result.ok ? "ok" : result.code;
}

/**
 * Sends one gRPC request of raw bytes (`payload`, framed here) over h2c and
 * returns its grpc-status, from the headers or the trailers: for requests a
 * generated client cannot make, such as a body that is not valid protobuf.
 */
export async function rawGrpcStatus(
  baseUrl: string,
  path: string,
  payload: Uint8Array,
  headers: Record<string, string> = {},
): Promise<string | undefined> {
  const session = http2Connect(baseUrl);
  try {
    return await new Promise<string | undefined>((resolve, reject) => {
      const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
      let status: string | undefined;
      req.on("response", (h) => (status ??= h["grpc-status"] as string | undefined));
      req.on("trailers", (t) => (status = (t["grpc-status"] as string | undefined) ?? status));
      req.on("data", () => undefined);
      req.on("end", () => resolve(status));
      req.on("error", reject);
      const frame = Buffer.alloc(5 + payload.length);
      frame.writeUInt32BE(payload.length, 1);
      frame.set(payload, 5);
      req.end(frame);
    });
  } finally {
    session.close();
  }
}
