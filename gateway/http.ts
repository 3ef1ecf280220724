import type { IncomingMessage, ServerResponse } from "node:http";
import type { GatewayConfig } from "./config.js";

/** A JSON-RPC request id as a client sent it (null when there was none, or it was not a valid one). */
export type JsonRpcId = string | number | null;

/**
 * A JSON-RPC error answered at the HTTP level (before any MCP server sees the
 * request); `id` is the request's when it is known (it was read and is one request).
 */
export function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  headers: Record<string, string> = {},
  code = -32600,
  id: JsonRpcId = null,
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id });
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** How deeply a request body's JSON may nest: enough for any tool's arguments, far below what recursive validators survive. */
export const MAX_JSON_DEPTH = 64;

/** True when `value` nests arrays and objects deeper than `max` (walked without recursion). */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (depth >= max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

/** A request body over the configured limit. */
export class BodyTooLargeError extends Error {}

/** Reads the whole body up to `limit` bytes; rejects with BodyTooLargeError beyond it. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? "0");
    if (Number.isFinite(declared) && declared > limit) {
      reject(new BodyTooLargeError());
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new BodyTooLargeError());
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
    // Closed before the body was complete (the client left, or the request timeout cut it off).
    req.on("close", () => {
      if (!req.complete) reject(new Error("the request body was not complete"));
    });
  });
}

function hostname(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith("[")) return h.slice(1, h.indexOf("]"));
  const colon = h.lastIndexOf(":");
  return colon === -1 ? h : h.slice(0, colon);
}

/**
 * DNS-rebinding protection (the MCP transport spec): the Host must name this
 * gateway, and an Origin, when sent, must be an allowed one. Returns the refusal, or undefined.
 */
export function checkHostAndOrigin(req: IncomingMessage, config: Pick<GatewayConfig, "allowedHosts" | "allowedOrigins">): string | undefined {
  const anyHost = config.allowedHosts.includes("*");
  const host = req.headers.host;
  if (!anyHost && (host === undefined || !config.allowedHosts.includes(hostname(host)))) {
    return `host ${JSON.stringify(host ?? "")} is not served here`;
  }
  const origin = req.headers.origin;
  if (origin === undefined || config.allowedOrigins.includes("*") || config.allowedOrigins.includes(origin)) return undefined;
  let originHost: string;
  try {
    const url = new URL(origin);
    originHost = url.hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  } catch {
    return `origin ${JSON.stringify(origin)} is not allowed`;
  }
  if (!anyHost && config.allowedHosts.includes(originHost)) return undefined;
  return `origin ${JSON.stringify(origin)} is not allowed`;
}

/** A web Request carrying what the Node request carried (the body already read). */
export function toWebRequest(req: IncomingMessage, body: Buffer | undefined, signal: AbortSignal): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name.startsWith(":")) continue;
    headers.set(name, Array.isArray(value) ? value.join(", ") : value);
  }
  const url = `http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`;
  return new Request(url, {
    method: req.method ?? "GET",
    headers,
    signal,
    ...(body !== undefined && req.method !== "GET" && req.method !== "HEAD" ? { body: new Uint8Array(body) } : {}),
  });
}

/**
 * Writes a web Response to the Node response, streaming its body (SSE) until
 * either side ends or `stop` aborts (the endpoint closed).
 */
export async function sendWebResponse(res: ServerResponse, response: Response, stop?: AbortSignal): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  res.writeHead(response.status, headers);
  if (response.body === null) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  const cancel = () => void reader.cancel().catch(() => undefined);
  res.once("close", cancel);
  stop?.addEventListener("abort", cancel);
  if ((headers["content-type"] ?? "").startsWith("text/event-stream")) res.flushHeaders();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || res.destroyed || res.writableEnded || stop?.aborted) break;
      res.write(value);
    }
  } catch {
    // The stream was cancelled (client gone or endpoint closed).
  } finally {
    res.off("close", cancel);
    stop?.removeEventListener("abort", cancel);
    if (!res.writableEnded) res.end();
  }
}
