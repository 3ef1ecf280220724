import { randomUUID } from "node:crypto";
import { createServer, STATUS_CODES, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { isLegacyRequest } from "@modelcontextprotocol/server";
import { ReleaseService } from "../gen/releases/v1/releases_pb.js";
import { parseEndpointPath, type EndpointAddress } from "./address.js";
import type { GatewayConfig } from "./config.js";
import { EndpointError, endpointKey, EndpointRegistry, type Endpoint } from "./endpoints.js";
import {
  BodyTooLargeError,
  checkHostAndOrigin,
  MAX_JSON_DEPTH,
  nestedDeeperThan,
  readBody,
  sendError,
  sendWebResponse,
  toWebRequest,
  type JsonRpcId,
} from "./http.js";
import { invalidLegacyParams, LegacySessions } from "./legacy.js";
import { CountsPerKey, TokenBuckets } from "./limits.js";
import type { GatewayLogger } from "./log.js";
import type { McpDeps } from "./mcp-shared.js";
import { GatewayMetrics, methodLabel, type RefusalReason } from "./metrics.js";
import { ModernEndpoints } from "./modern.js";
import { clientAddressOf, REQUEST_ID_HEADER, requestIdFrom } from "./request-id.js";
import { withRequestNote, type RequestNote } from "./request-log.js";
import { UpstreamGuard } from "./upstream/index.js";

/** What the log line of a request says. */
type RequestLine = RequestNote & {
  method?: string;
  endpoint?: string;
  era?: string;
  skipLog?: boolean;
  /** The client address, on the lines of requests refused by a per-client limit (who to look at). */
  client?: string;
};

/** Refusals for a limit: the log line's outcome is the reason. */
const LIMITS: ReadonlySet<RefusalReason> = new Set(["rate_limited", "max_sessions", "sessions_per_client", "overloaded"]);

/** A JSON-RPC error code of the implementation-defined server range: refused for load, retry later. */
const RETRY_LATER = -32000;

/** The gateway's version, shown to MCP clients in serverInfo. */
export const GATEWAY_VERSION = "0.1.0";

/** What a test may change from the defaults. */
export interface GatewayOverrides {
  /** Watch reopen backoff (tests shorten it). */
  backoffMs?: { min: number; max: number };
}

/** A running gateway. */
export interface Gateway {
  server: HttpServer;
  endpoints: EndpointRegistry;
  legacy: LegacySessions;
  modern: ModernEndpoints;
  metrics: GatewayMetrics;
  listen(port: number, host: string): Promise<AddressInfo>;
  /** Ends every stream and session, then stops listening. */
  close(): Promise<void>;
}

const WWW_AUTHENTICATE = { "www-authenticate": 'Bearer realm="mcp"' };
const BEARER = /^Bearer [A-Za-z0-9._~+/=-]+$/i;

/** Assembles the gateway (no listen). */
export function createGateway(config: GatewayConfig, logger: GatewayLogger, overrides: GatewayOverrides = {}): Gateway {
  // Connect with JSON over HTTP/2: one connection multiplexes every watch, and
  // protobuf-es decodes a Struct-heavy toolset from JSON about 4× faster than
  // from binary (18 vs 4 ms for 200 tools). HTTP/2 pings find a half-open
  // connection (a NAT that forgot it, a host gone without a reset).
  const client = createClient(
    ReleaseService,
    createConnectTransport({ baseUrl: config.tsrUrl, httpVersion: "2", useBinaryFormat: false, pingIntervalMs: 15_000, pingTimeoutMs: 5_000 }),
  );
  let closing = false;
  const metrics = new GatewayMetrics();
  const guard = new UpstreamGuard(config.upstreamAllow);
  const endpoints = new EndpointRegistry({
    client,
    logger,
    metrics,
    idleMs: config.endpointIdleMs,
    resolveTimeoutMs: config.resolveTimeoutMs,
    notFoundTtlMs: config.notFoundTtlMs,
    ...(overrides.backoffMs !== undefined ? { backoffMs: overrides.backoffMs } : {}),
  });
  const deps: McpDeps = {
    logger,
    metrics,
    guard,
    upstreamTimeoutMs: config.upstreamTimeoutMs,
    upstreamMaxResponseBytes: config.upstreamMaxResponseBytes,
    listTtlMs: config.listTtlMs,
    listenStreamsPerEndpoint: config.listenStreamsPerEndpoint,
    confirmTimeoutMs: config.confirmTimeoutMs,
    version: GATEWAY_VERSION,
  };
  const legacy = new LegacySessions(deps, config.sessionIdleMs);
  const modern = new ModernEndpoints(deps);
  const rateLimit = new TokenBuckets({ perSecond: config.rateLimitPerSecond, burst: config.rateLimitBurst });
  /** 2025-era sessions and 2026-07-28 listen streams by client address. */
  const sessionsPerClient = new CountsPerKey(config.maxSessionsPerClient);
  let listenStreams = 0;
  /** The response each connection is serving now (a clientError during it is that request's to log). */
  const serving = new WeakMap<Socket, ServerResponse>();
  /** Responses whose request Node.js cut off (its clientError), to log as 408. */
  const timedOut = new WeakSet<ServerResponse>();
  let callsInFlight = 0;
  metrics.observe({
    legacySessions: () => legacy.size,
    listenStreams: () => listenStreams,
    watches: () => endpoints.size,
    callsInFlight: () => callsInFlight,
  });

  const server = createServer(
    {
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: config.requestTimeoutMs,
      // How often Node.js looks for connections past those timeouts (30 s by default: too coarse for a 10 s bound).
      connectionsCheckingInterval: Math.max(100, Math.min(5_000, Math.floor(config.headersTimeoutMs / 2))),
    },
    (req, res) => {
      const started = performance.now();
      const requestId = requestIdFrom(req.headers);
      res.setHeader(REQUEST_ID_HEADER, requestId);
      serving.set(req.socket, res);
      const note: RequestLine = {};
      res.once("close", () => {
        if (serving.get(req.socket) === res) serving.delete(req.socket);
        // Every request but health checks and scrapes gets its line and its count, refused ones too.
        if (note.skipLog === true) return;
        const seconds = (performance.now() - started) / 1000;
        // A body never completed: cut off by the request timeout (Node.js answered 408), or the client left (499, as nginx logs it).
        const incomplete = !req.complete && !res.headersSent;
        const status = incomplete ? (timedOut.has(res) ? 408 : 499) : res.statusCode;
        const outcome = incomplete ? "incomplete_body" : (note.outcome ?? (status < 400 ? "ok" : `http_${status}`));
        const era = note.era ?? "none";
        const method = methodLabel(note.method);
        metrics.requests.inc({ era, method, outcome });
        metrics.requestDuration.observe({ era, method }, seconds);
        // Written outside the request's scope (the socket closed it), so the id is given here.
        logger.info("mcp request", {
          request_id: requestId,
          method: note.method ?? req.method,
          endpoint: note.endpoint ?? null,
          era: note.era,
          release: note.release,
          tool: note.tool,
          status,
          outcome,
          duration_ms: Math.round(seconds * 10_000) / 10,
          ...(note.client !== undefined ? { client: note.client } : {}),
        });
      });
      void withRequestNote(requestId, note, () =>
        handle(req, res, note).catch((err: unknown) => {
          logger.error("request failed", { endpoint: note.endpoint, error: err });
          sendError(res, 500, `internal error (request id ${requestId})`, {}, -32603);
        }),
      );
    },
  );
  server.keepAliveTimeout = config.keepAliveTimeoutMs;

  // What Node.js answers itself (headers or request timeout, unparsable HTTP),
  // answered as it would, with a request id, a log line and a count; a request
  // the handler serves already (a body cut off by the request timeout) is logged there.
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    const res = serving.get(socket as Socket);
    if (res !== undefined && err.code === "ERR_HTTP_REQUEST_TIMEOUT") timedOut.add(res);
    const status = err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : err.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
    const answer = socket.writable && res?.headersSent !== true;
    const requestId = randomUUID();
    if (answer) {
      // end() closes once the answer is flushed.
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n${REQUEST_ID_HEADER}: ${requestId}\r\n\r\n`,
      );
    } else {
      socket.destroy();
    }
    // A client that closed mid-request left nobody to answer: no request to log.
    if (res !== undefined || !answer) return;
    const outcome = status === 408 ? "request_timeout" : "bad_http";
    metrics.requests.inc({ era: "none", method: "none", outcome });
    logger.info("mcp request", { request_id: requestId, method: null, endpoint: null, status, outcome, error: err.code });
  });

  /** Answers a request refused for a limit: counted by reason, the reason is the log line's outcome. */
  function refuse(
    res: ServerResponse,
    note: RequestLine,
    reason: RefusalReason,
    status: number,
    message: string,
    headers: Record<string, string> = {},
    code = RETRY_LATER,
    id: JsonRpcId = null,
  ): void {
    // A limit's name says more than its status; a refused Host or body keeps its http_<status>.
    if (LIMITS.has(reason)) note.outcome = reason;
    metrics.refusals.inc({ reason });
    sendError(res, status, message, headers, code, id);
  }

  async function handle(req: IncomingMessage, res: ServerResponse, note: RequestLine) {
    const url = new URL(req.url ?? "/", "http://gateway");
    if (url.pathname === "/healthz" && (req.method === "GET" || req.method === "HEAD")) {
      note.skipLog = true;
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    if (url.pathname === "/metrics" && req.method === "GET") {
      // Like /healthz, not behind the Host check: scrapers use the pod's address. Keep it off the public route.
      note.skipLog = true;
      const text = await metrics.text();
      res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text);
      return;
    }
    if (closing) {
      refuse(res, note, "shutting_down", 503, "the gateway is shutting down; retry", { "retry-after": "1", connection: "close" });
      return;
    }
    const client = clientAddressOf(req.socket.remoteAddress, req.headers, config.trustedProxyHops);
    const waitMs = rateLimit.take(client);
    if (waitMs > 0) {
      note.client = client;
      const seconds = Math.ceil(waitMs / 1000);
      refuse(res, note, "rate_limited", 429, `rate limited: too many requests from this address; retry in ${seconds} s`, {
        "retry-after": String(seconds),
      });
      return;
    }
    const refusal = checkHostAndOrigin(req, config);
    if (refusal !== undefined) {
      refuse(res, note, "forbidden_host", 403, `forbidden: ${refusal}`, {}, -32600);
      return;
    }
    // Browser clients: an allowed Origin (checked above) may read the answers.
    const origin = req.headers.origin;
    if (origin !== undefined) {
      res.setHeader("access-control-allow-origin", origin);
      res.setHeader("vary", "Origin");
      res.setHeader("access-control-expose-headers", "Mcp-Session-Id, Mcp-Protocol-Version, WWW-Authenticate");
      if (req.method === "OPTIONS") {
        res.writeHead(204, {
          "access-control-allow-methods": "GET, POST, DELETE",
          "access-control-allow-headers":
            req.headers["access-control-request-headers"] ?? "content-type, authorization, mcp-session-id, mcp-protocol-version",
          "access-control-max-age": "600",
        });
        res.end();
        return;
      }
    }
    const address = parseEndpointPath(url.pathname);
    if (address === undefined) {
      sendError(res, 404, "no MCP endpoint here");
      return;
    }
    note.endpoint = address.label;
    if (req.method !== "POST" && req.method !== "GET" && req.method !== "DELETE") {
      sendError(res, 405, "method not allowed", { allow: "GET, POST, DELETE, OPTIONS" });
      return;
    }
    const authorization = req.headers.authorization;
    if (authorization !== undefined && !BEARER.test(authorization)) {
      sendError(res, 401, "the Authorization header must be `Bearer <API key>`", WWW_AUTHENTICATE);
      return;
    }
    if (authorization === undefined && address.kind !== "live") {
      // Staging and releases are never public.
      sendError(res, 401, "this MCP endpoint needs an API key: send `Authorization: Bearer <key>`", WWW_AUTHENTICATE);
      return;
    }

    let body: Buffer | undefined;
    let parsed: unknown;
    if (req.method === "POST") {
      try {
        body = await readBody(req, config.maxRequestBytes);
      } catch (err) {
        if (err instanceof BodyTooLargeError) {
          refuse(res, note, "body_too_large", 413, `request body over ${config.maxRequestBytes} bytes`, {}, -32600);
          return;
        }
        // The client went away, or GATEWAY_REQUEST_TIMEOUT_MS passed (Node.js answered 408 itself):
        // nobody to answer; the log line says "incomplete_body".
        res.destroy();
        return;
      }
      try {
        parsed = JSON.parse(body.toString("utf8"));
      } catch {
        sendError(res, 400, "parse error: the body is not JSON", {}, -32700);
        return;
      }
      note.method = Array.isArray(parsed)
        ? "batch"
        : typeof (parsed as { method?: unknown })?.method === "string"
          ? (parsed as { method: string }).method.slice(0, 64) // the client's string: bounded in the log
          : "response";
      if (nestedDeeperThan(parsed, MAX_JSON_DEPTH)) {
        sendError(res, 400, `invalid request: JSON nested deeper than ${MAX_JSON_DEPTH} levels`, {}, -32600);
        return;
      }
    } else {
      note.method = req.method === "GET" ? "stream" : "session/delete";
    }

    const abort = new AbortController();
    res.once("close", () => abort.abort());
    const webRequest = toWebRequest(req, body, abort.signal);
    const isLegacy = await isLegacyRequest(webRequest.clone(), parsed, { maxRequestBodySize: config.maxRequestBytes });
    note.era = isLegacy ? "2025" : "2026";
    // tools/call holds an upstream connection and up to a response's bytes: past
    // the cap the excess is answered at once rather than queued.
    const calls = toolCallsIn(parsed);
    if (calls > 0) {
      if (callsInFlight + calls > config.maxConcurrentCalls) {
        refuse(
          res,
          note,
          "overloaded",
          503,
          "overloaded: this gateway is running as many tool calls as it may; retry shortly",
          { "retry-after": "1" },
          RETRY_LATER,
          jsonRpcIdOf(parsed),
        );
        return;
      }
      callsInFlight += calls;
      res.once("close", () => (callsInFlight -= calls));
    }
    if (isLegacy) await serveLegacy(req, res, note, client, address, authorization, parsed);
    else await serveModern(req, res, note, client, address, authorization, webRequest, parsed);
  }

  /**
   * Answers a 2025-era body with invalid params -32602 (a batch: 400 for all of
   * it, a message: for its id); false when the params are valid.
   */
  function refuseInvalidParams(res: ServerResponse, note: RequestLine, parsed: unknown): boolean {
    const invalid = invalidLegacyParams(parsed);
    if (invalid === undefined) return false;
    note.outcome = "invalid_params";
    if (Array.isArray(parsed)) sendError(res, 400, invalid.message, {}, -32602);
    else sendError(res, 200, invalid.message, {}, -32602, invalid.id);
    return true;
  }

  /**
   * Counts a session (2025) or listen stream (2026) of `client` against
   * GATEWAY_MAX_SESSIONS_PER_CLIENT; false when refused (answered 429).
   */
  function holdSession(res: ServerResponse, note: RequestLine, client: string): boolean {
    if (sessionsPerClient.acquire(client)) return true;
    note.client = client;
    refuse(res, note, "sessions_per_client", 429, "too many open sessions from this address; close some and retry", { "retry-after": "5" });
    return false;
  }

  /**
   * Opens the endpoint or answers 401/404/503; undefined when answered (or when
   * the client left meanwhile). The caller holds the endpoint it gets.
   */
  async function acquire(
    req: IncomingMessage,
    res: ServerResponse,
    address: EndpointAddress,
    authorization: string | undefined,
  ): Promise<Endpoint | undefined> {
    try {
      for (;;) {
        const endpoint = await endpoints.acquire(address, authorization);
        if (req.socket.destroyed) {
          // The client left while the endpoint was opening: keep no hold for it.
          endpoint.release();
          return undefined;
        }
        // Closed between the registry's answer and now: ask again (it reopens, or fails as it should).
        if (!endpoint.closed) return endpoint;
        endpoint.release();
      }
    } catch (err) {
      if (!(err instanceof EndpointError)) throw err;
      switch (err.failure) {
        case "unauthenticated":
          sendError(res, 401, "the API key was not accepted", { "www-authenticate": 'Bearer realm="mcp", error="invalid_token"' });
          return undefined;
        case "not_found":
          // Without a key, "not found" may be "private": ask for a key either way.
          if (authorization === undefined)
            sendError(res, 401, "this MCP endpoint needs an API key: send `Authorization: Bearer <key>`", WWW_AUTHENTICATE);
          else sendError(res, 404, "no MCP endpoint here");
          return undefined;
        case "unavailable":
          sendError(res, 503, "the release service is unavailable; retry shortly", { "retry-after": "1" });
          return undefined;
        default: {
          const never: never = err.failure;
          throw new Error(`unhandled failure ${String(never)}`);
        }
      }
    }
  }

  async function serveLegacy(
    req: IncomingMessage,
    res: ServerResponse,
    note: RequestLine,
    client: string,
    address: EndpointAddress,
    authorization: string | undefined,
    parsed: unknown,
  ) {
    const sessionId = req.headers["mcp-session-id"];
    if (typeof sessionId === "string") {
      const session = legacy.find(sessionId, endpointKey(address, authorization));
      if (session !== undefined) {
        if (!refuseInvalidParams(res, note, parsed)) await legacy.handle(session, req, res, parsed);
        return;
      }
      // Unknown session: authenticate first, so a revoked key hears 401, not "re-initialize".
      const endpoint = await acquire(req, res, address, authorization);
      if (endpoint === undefined) return;
      endpoint.release();
      sendError(res, 404, "session not found: initialize a new session", {}, -32001);
      return;
    }
    const isInitialize = req.method === "POST" && !Array.isArray(parsed) && (parsed as { method?: unknown } | null)?.method === "initialize";
    if (!isInitialize) {
      sendError(res, 400, "bad request: send `initialize` first, then the Mcp-Session-Id it returns", {}, -32000);
      return;
    }
    if (refuseInvalidParams(res, note, parsed)) return;
    if (legacy.size >= config.maxSessions) {
      refuse(res, note, "max_sessions", 503, "too many open sessions on this gateway; retry later", { "retry-after": "5" });
      return;
    }
    if (!holdSession(res, note, client)) return;
    const endpoint = await acquire(req, res, address, authorization);
    if (endpoint === undefined) {
      sessionsPerClient.release(client);
      return;
    }
    // The session gives its place back when it closes (or at once, when initialize opened none).
    await legacy.open(endpoint, req, res, parsed, () => sessionsPerClient.release(client));
  }

  async function serveModern(
    req: IncomingMessage,
    res: ServerResponse,
    note: RequestLine,
    client: string,
    address: EndpointAddress,
    authorization: string | undefined,
    webRequest: Request,
    parsed: unknown,
  ) {
    // A listen stream stays open for as long as the client likes: it counts as a session.
    const listen = listenFilterOf(parsed);
    if (listen !== undefined) {
      if (!holdSession(res, note, client)) return;
      listenStreams++;
      res.once("close", () => {
        listenStreams--;
        sessionsPerClient.release(client);
      });
    }
    const endpoint = await acquire(req, res, address, authorization);
    if (endpoint === undefined) return;
    // The handler first: when the endpoint closes, it ends its listen streams
    // gracefully; this request's own stop is the backstop a moment later.
    const handler = modern.handler(endpoint);
    const stop = new AbortController();
    let backstop: NodeJS.Timeout | undefined;
    const live = endpoint.address.kind !== "release";
    const listener = {
      // The handler sends list_changed to each listen stream that asked for that list.
      changed: (change: { tools: boolean; prompts: boolean }) => {
        if (listen === undefined || !live) return;
        if (change.tools && listen.tools) metrics.listChanged.inc({ era: "2026", list: "tools" });
        if (change.prompts && listen.prompts) metrics.listChanged.inc({ era: "2026", list: "prompts" });
      },
      closed: () => {
        backstop = setTimeout(() => stop.abort(), 1_000).unref();
      },
    };
    endpoint.listeners.add(listener);
    res.once("close", () => {
      clearTimeout(backstop);
      endpoint.listeners.delete(listener);
      endpoint.release();
    });
    const response = await handler.fetch(webRequest, { parsedBody: parsed });
    await sendWebResponse(res, response, stop.signal);
  }

  return {
    server,
    endpoints,
    legacy,
    modern,
    metrics,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
          server.off("error", reject);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    async close() {
      // New requests are refused from here on; open ones end below.
      closing = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      await legacy.close();
      await modern.close();
      endpoints.close();
      rateLimit.close();
      server.closeAllConnections();
      await stopped;
    },
  };
}

/** The messages of a body that are tools/call requests. */
function toolCallsIn(parsed: unknown): number {
  const isCall = (m: unknown) => typeof m === "object" && m !== null && (m as { method?: unknown }).method === "tools/call";
  if (Array.isArray(parsed)) return parsed.filter(isCall).length;
  return isCall(parsed) ? 1 : 0;
}

/** The id of a single JSON-RPC request, for an error answered in its place; null when there is none. */
function jsonRpcIdOf(parsed: unknown): JsonRpcId {
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return null;
  const id = (parsed as { id?: unknown }).id;
  return typeof id === "string" || (typeof id === "number" && Number.isFinite(id)) ? id : null;
}

/** The lists a `subscriptions/listen` request (2026-07-28) asks to hear of; undefined for any other body. */
function listenFilterOf(parsed: unknown): { tools: boolean; prompts: boolean } | undefined {
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
  const message = parsed as { method?: unknown; params?: { notifications?: { toolsListChanged?: unknown; promptsListChanged?: unknown } } };
  if (message.method !== "subscriptions/listen") return undefined;
  const wanted = typeof message.params === "object" && message.params !== null ? message.params.notifications : undefined;
  return { tools: wanted?.toolsListChanged === true, prompts: wanted?.promptsListChanged === true };
}
