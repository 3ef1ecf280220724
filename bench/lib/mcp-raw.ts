// A light MCP client for the gateway benchmark, on plain node:http: the
// requests the SDK clients send (same headers and bodies, checked against
// @modelcontextprotocol/sdk 1.x and @modelcontextprotocol/client 2.x), without
// their per-session objects, so one process holds a thousand sessions and
// times notifications on arrival. 2025-11-25: initialize, the initialized
// notification, a GET stream, DELETE at the end. 2026-07-28 (stateless): one
// subscriptions/listen stream per session.
import * as http from "node:http";
import type { Call } from "./load.js";

export type Era = "2025-11-25" | "2026-07-28";
export const ERAS: readonly Era[] = ["2025-11-25", "2026-07-28"];

const ACCEPT = "application/json, text/event-stream";
const CLIENT_INFO = { name: "tsr-bench", version: "1.0.0" };
/** The request `_meta` a 2026-07-28 client sends on every request. */
const MODERN_META = {
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
  "io.modelcontextprotocol/clientCapabilities": {},
};

function jsonCall(path: string, message: Record<string, unknown>, headers: Record<string, string>): Call {
  return {
    path,
    body: Buffer.from(JSON.stringify({ jsonrpc: "2.0", ...message })),
    headers: { "content-type": "application/json", accept: ACCEPT, ...headers },
  };
}

/** A request of a 2025-11-25 session (after initialize). */
function legacyCall(path: string, sessionId: string, message: Record<string, unknown>, headers: Record<string, string> = {}): Call {
  return jsonCall(path, message, { ...headers, "mcp-protocol-version": "2025-11-25", "mcp-session-id": sessionId });
}

/** A 2026-07-28 request: the method in a header too, the protocol version and client in `_meta`. */
function modernCall(
  path: string,
  method: string,
  id: string | number,
  params: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Call {
  return jsonCall(
    path,
    { id, method, params: { ...params, _meta: MODERN_META } },
    { ...headers, "mcp-protocol-version": "2026-07-28", "mcp-method": method },
  );
}

/** `tools/list` of `era` with JSON-RPC id `id`; a 2025-11-25 call needs its session's id. */
export function toolsListCall(era: Era, path: string, id: number, sessionId?: string): Call {
  if (era === "2025-11-25") {
    if (sessionId === undefined) throw new Error("a 2025-11-25 tools/list needs a session");
    return legacyCall(path, sessionId, { id, method: "tools/list" });
  }
  return modernCall(path, "tools/list", id);
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request on `agent`, the answer read whole. */
function send(agent: http.Agent, port: number, method: string, call: Call): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { agent, host: "127.0.0.1", port, method, path: call.path, headers: { ...call.headers, "content-length": String(call.body.length) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(call.body);
  });
}

/** The JSON-RPC messages of an SSE body or a JSON body. */
export function messagesOf(body: string): Record<string, unknown>[] {
  const trimmed = body.trimStart();
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    const parsed = JSON.parse(trimmed) as unknown;
    return (Array.isArray(parsed) ? parsed : [parsed]) as Record<string, unknown>[];
  }
  return body
    .split(/\r?\n\r?\n/)
    .map(sseData)
    .filter((d): d is string => d !== undefined)
    .map((d) => JSON.parse(d) as Record<string, unknown>);
}

/** The data of one SSE event (its data lines joined), or undefined for a comment or an empty event. */
function sseData(event: string): string | undefined {
  const data = event
    .split(/\r?\n/)
    .filter((l) => l.startsWith("data:"))
    .map((l) => l.slice(l.startsWith("data: ") ? 6 : 5));
  const joined = data.join("\n");
  return joined.trim() === "" ? undefined : joined;
}

/** Opens a 2025-11-25 session (initialize, then notifications/initialized) on `agent`; resolves with its Mcp-Session-Id. `headers`: say an Authorization. */
export async function openLegacySession(agent: http.Agent, port: number, path: string, headers: Record<string, string> = {}): Promise<string> {
  const init = await send(
    agent,
    port,
    "POST",
    jsonCall(path, { id: 0, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: CLIENT_INFO } }, headers),
  );
  const sessionId = init.headers["mcp-session-id"];
  if (init.status !== 200 || typeof sessionId !== "string") throw new Error(`initialize: HTTP ${init.status}: ${init.body.slice(0, 300)}`);
  const result = messagesOf(init.body)[0]?.["result"] as { protocolVersion?: string } | undefined;
  if (result?.protocolVersion !== "2025-11-25") throw new Error(`initialize: unexpected answer ${init.body.slice(0, 300)}`);
  const initialized = await send(agent, port, "POST", legacyCall(path, sessionId, { method: "notifications/initialized" }, headers));
  if (initialized.status !== 202) throw new Error(`notifications/initialized: HTTP ${initialized.status}: ${initialized.body.slice(0, 300)}`);
  return sessionId;
}

/** Ends a 2025-11-25 session (DELETE). */
export async function closeLegacySession(
  agent: http.Agent,
  port: number,
  path: string,
  sessionId: string,
  headers: Record<string, string> = {},
): Promise<void> {
  const r = await send(agent, port, "DELETE", {
    path,
    body: Buffer.alloc(0),
    headers: { ...headers, "mcp-protocol-version": "2025-11-25", "mcp-session-id": sessionId },
  });
  if (r.status !== 200) throw new Error(`DELETE session: HTTP ${r.status}: ${r.body.slice(0, 300)}`);
}

/** A long-lived SSE response on a socket of its own. */
export interface EventStream {
  /** Resolves once the stream is live (2025: the GET answered 200; 2026: the subscription was acknowledged). */
  opened: Promise<void>;
  /** Resolves when the stream ends, with why. */
  ended: Promise<string>;
  close(): void;
}

/**
 * The notification stream of a session: the GET stream of a 2025-11-25 session
 * (`sessionId`), or a 2026-07-28 subscriptions/listen for tools and prompts.
 * `onMessage` gets every JSON-RPC message's method with the time its chunk
 * arrived (performance.now(), before parsing).
 */
export function openNotificationStream(
  era: Era,
  port: number,
  path: string,
  sessionId: string | undefined,
  onMessage: (method: string | undefined, at: number) => void,
  headers: Record<string, string> = {},
): EventStream {
  let call: Call;
  let method: string;
  if (era === "2025-11-25") {
    if (sessionId === undefined) throw new Error("a 2025-11-25 GET stream needs a session");
    method = "GET";
    call = {
      path,
      body: Buffer.alloc(0),
      headers: { ...headers, accept: "text/event-stream", "mcp-protocol-version": "2025-11-25", "mcp-session-id": sessionId },
    };
  } else {
    method = "POST";
    call = modernCall(path, "subscriptions/listen", "listen:0", { notifications: { toolsListChanged: true, promptsListChanged: true } }, headers);
  }
  let open!: () => void;
  let fail!: (err: Error) => void;
  const opened = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  opened.catch(() => undefined);
  let end!: (why: string) => void;
  const ended = new Promise<string>((resolve) => (end = resolve));
  const req = http.request(
    // agent false: a socket of its own, closed with the stream.
    {
      agent: false,
      host: "127.0.0.1",
      port,
      method,
      path,
      headers: { ...call.headers, ...(method === "POST" ? { "content-length": String(call.body.length) } : {}) },
    },
    (res) => {
      if (res.statusCode !== 200 || !String(res.headers["content-type"] ?? "").startsWith("text/event-stream")) {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const why = `HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString().slice(0, 300)}`;
          fail(new Error(why));
          end(why);
        });
        return;
      }
      if (era === "2025-11-25") open();
      let buffered = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        const at = performance.now();
        buffered += chunk;
        for (let i = buffered.indexOf("\n\n"); i !== -1; i = buffered.indexOf("\n\n")) {
          const data = sseData(buffered.slice(0, i));
          buffered = buffered.slice(i + 2);
          if (data === undefined) continue;
          const m = (JSON.parse(data) as { method?: string }).method;
          if (m === "notifications/subscriptions/acknowledged") open();
          onMessage(m, at);
        }
      });
      const stop = (why: string) => {
        fail(new Error(`stream ended before it was live: ${why}`));
        end(why);
      };
      res.on("end", () => stop("the server ended the stream"));
      res.on("error", (e) => stop(e.message));
    },
  );
  req.on("error", (e) => {
    fail(e);
    end(e.message);
  });
  req.end(method === "POST" ? call.body : undefined);
  return { opened, ended, close: () => req.destroy() };
}
