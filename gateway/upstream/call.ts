import * as http from "node:http";
import * as https from "node:https";
import type { LookupFunction } from "node:net";
import { isIP } from "node:net";
import { UpstreamRefusedError, type ResolvedAddress, type UpstreamGuard } from "./guard.js";

/** What the gateway knows of an HTTP tool (from the generated ResolvedTool message). */
export interface HttpTool {
  name: string;
  httpMethod: string;
  path: string;
  serverUrl: string;
  inputSchema: Record<string, unknown> | undefined;
}

/** Limits and context of one tools/call. */
export interface UpstreamCallOptions {
  guard: UpstreamGuard;
  /** The whole call: DNS, connect and the full response. */
  timeoutMs: number;
  /** Body bytes read; beyond them the call fails as too_large and the connection is destroyed. */
  maxResponseBytes: number;
  /** Optional bound on the JSON body sent. */
  maxRequestBytes?: number;
  /** The MCP request's cancellation. */
  signal?: AbortSignal;
}

/** How a call ended, for logs and metrics. */
export type UpstreamOutcome = "ok" | "http_error" | "timeout" | "too_large" | "refused" | "network_error" | "bad_arguments" | "cancelled";

/** A tools/call answer and how it came about. */
export interface UpstreamCallResult {
  /** An MCP CallToolResult: text content, isError on failure. */
  result: { content: { type: "text"; text: string }[]; isError?: boolean };
  outcome: UpstreamOutcome;
  /** Upstream HTTP status when there was one. */
  status?: number;
}

const QUERY_METHODS = new Set(["GET", "HEAD", "DELETE", "OPTIONS"]);
const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);

const FORWARD_PREFIX = "mcp-upstream-";
/**
 * Never forwarded even with the prefix: hop-by-hop and framing headers (they
 * would let a client smuggle requests or break our own framing), plus those
 * that would change what we send or how we must read the answer (the body is
 * always JSON we encoded; compressed answers would reach the model as garbage).
 */
const NOT_FORWARDED = new Set([
  "host",
  "connection",
  "content-length",
  "transfer-encoding",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
  "expect",
  "content-type",
  "content-encoding",
  "accept-encoding",
]);

/** Sent unless the client forwards its own (`mcp-upstream-accept`, `mcp-upstream-user-agent`). */
const DEFAULT_HEADERS = { accept: "application/json, text/*;q=0.9, */*;q=0.8", "user-agent": "toolset-release-gateway" };

/**
 * Executes an HTTP tool. Never throws for upstream or argument problems: they
 * become isError results with an outcome; only programming errors throw.
 *
 * Redirects are not followed: a 3xx is a non-2xx answer (isError), because the
 * target of a redirect never went through the guard.
 */
export async function callHttpTool(
  tool: HttpTool,
  args: Record<string, unknown>,
  clientHeaders: Record<string, string | string[] | undefined>,
  options: UpstreamCallOptions,
): Promise<UpstreamCallResult> {
  const request = buildRequest(tool, args, options.maxRequestBytes);
  if ("failure" in request) return request.failure;
  if (options.signal?.aborted === true) return failure("cancelled", CANCELLED);
  const headers: http.OutgoingHttpHeaders = { ...DEFAULT_HEADERS, ...forwardedHeaders(clientHeaders) };
  if (request.body !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = request.body.length;
  }
  return exchange(request, headers, options);
}

const CANCELLED = "the tool call was cancelled";

interface UpstreamRequest {
  target: URL;
  method: string;
  /** Path and query as sent on the request line (built by hand: a URL object would resolve `..` segments). */
  path: string;
  body: Buffer | undefined;
}

/** Maps the arguments onto the tool's URL and body. */
function buildRequest(
  tool: HttpTool,
  args: Record<string, unknown>,
  maxRequestBytes: number | undefined,
): UpstreamRequest | { failure: UpstreamCallResult } {
  const method = tool.httpMethod.toUpperCase();
  if (!QUERY_METHODS.has(method) && !BODY_METHODS.has(method)) {
    return { failure: failure("refused", `tool "${tool.name}" uses HTTP method "${tool.httpMethod}", which the gateway does not call`) };
  }
  let target: URL;
  try {
    target = new URL(tool.serverUrl);
  } catch {
    return { failure: failure("refused", `tool "${tool.name}" has an invalid server URL`) };
  }

  const rest: Record<string, unknown> = { ...args };
  let problem: string | undefined;
  const filled = tool.path.replace(/\{([^{}]+)\}/g, (_match, name: string) => {
    const value = Object.hasOwn(args, name) ? args[name] : undefined;
    delete rest[name];
    if (value === undefined || value === null) {
      problem ??= `missing argument "${name}"`;
      return "";
    }
    const text = argumentText(value);
    if (text === "") problem ??= `argument "${name}" must not be empty`;
    const encoded = encodeURIComponent(text);
    // A value of "." or ".." must stay data, not become a dot segment the upstream resolves.
    return encoded === "." || encoded === ".." ? encoded.replaceAll(".", "%2E") : encoded;
  });
  if (problem !== undefined) return { failure: failure("bad_arguments", problem) };

  const [pathPart = "", templateQuery = ""] = filled.split(/\?(.*)/s);
  const prefix = target.pathname.replace(/\/+$/, "");
  const suffix = pathPart === "" ? "" : `/${pathPart.replace(/^\/+/, "")}`;
  const query = new URLSearchParams();
  let body: Buffer | undefined;
  if (BODY_METHODS.has(method)) {
    // Always a JSON object, `{}` when every argument went into the path: an API
    // declaring a JSON body expects one, and an empty body with a JSON
    // content-type is not valid JSON.
    try {
      body = Buffer.from(JSON.stringify(rest));
    } catch {
      return { failure: failure("bad_arguments", "the arguments cannot be encoded as JSON") };
    }
    if (maxRequestBytes !== undefined && body.length > maxRequestBytes) {
      return { failure: failure("bad_arguments", `the request body would be ${body.length} bytes, over the limit of ${maxRequestBytes}`) };
    }
  } else {
    for (const [name, value] of Object.entries(rest)) {
      for (const item of Array.isArray(value) ? (value as unknown[]) : [value]) {
        if (item !== undefined && item !== null) query.append(name, argumentText(item));
      }
    }
  }
  // The server URL's own query is kept byte for byte, then the template's, then the arguments'.
  const search = [target.search.slice(1), templateQuery, query.toString()].filter((part) => part !== "").join("&");
  const path = `${prefix}${suffix}` || "/";
  return { target, method, path: search === "" ? path : `${path}?${search}`, body };
}

/** Strings as they are, numbers and booleans as written, objects as JSON text. */
function argumentText(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** `mcp-upstream-<name>` → `<name>`, minus the headers we never forward; nothing else from the client. */
function forwardedHeaders(clientHeaders: Record<string, string | string[] | undefined>): http.OutgoingHttpHeaders {
  const headers: http.OutgoingHttpHeaders = {};
  for (const [key, value] of Object.entries(clientHeaders)) {
    const lower = key.toLowerCase();
    if (value === undefined || !lower.startsWith(FORWARD_PREFIX)) continue;
    const name = lower.slice(FORWARD_PREFIX.length);
    if (name === "" || NOT_FORWARDED.has(name) || name.startsWith("proxy-")) continue;
    try {
      http.validateHeaderName(name);
      for (const item of Array.isArray(value) ? value : [value]) http.validateHeaderValue(name, item);
    } catch {
      continue;
    }
    headers[name] = value;
  }
  return headers;
}

/** Guard check, connect to the checked addresses, read the answer; one timer and one cancellation for all of it. */
function exchange(request: UpstreamRequest, headers: http.OutgoingHttpHeaders, options: UpstreamCallOptions): Promise<UpstreamCallResult> {
  const { target, method, path, body } = request;
  const host = target.hostname.replace(/^\[(.*)\]$/, "$1");
  return new Promise((resolve) => {
    let req: http.ClientRequest | undefined;
    let status: number | undefined;
    let done = false;
    const finish = (result: UpstreamCallResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      req?.destroy(); // agent: false, so this closes our own socket and nothing else
      resolve(result);
    };
    const fail = (outcome: UpstreamOutcome, text: string): void => finish(failure(outcome, text, status));
    const onAbort = (): void => fail("cancelled", CANCELLED);
    const timer = setTimeout(() => fail("timeout", `upstream did not answer within ${options.timeoutMs} ms`), options.timeoutMs);
    options.signal?.addEventListener("abort", onAbort, { once: true });

    options.guard.check(target).then(
      (addresses) => {
        if (done) return;
        const secure = target.protocol === "https:";
        const connect = secure ? https.request : http.request;
        req = connect({
          protocol: target.protocol,
          hostname: host,
          ...(target.port === "" ? {} : { port: Number(target.port) }),
          path,
          method,
          headers,
          // One connection per call: a pooled socket would outlive the guard's verdict.
          agent: false,
          lookup: pinnedLookup(addresses),
          // SNI and certificate checks use the host name, not the address we connect to.
          ...(secure && isIP(host) === 0 ? { servername: host } : {}),
        });
        req.on("error", (error) => fail("network_error", `upstream request failed: ${describe(error)}`));
        req.on("response", (res) => {
          status = res.statusCode ?? 0;
          const limit = options.maxResponseBytes;
          const tooLarge = `upstream response is larger than the limit of ${limit} bytes`;
          // A HEAD, 204 or 304 answer declares a length it does not send.
          const bodyless = method === "HEAD" || status === 204 || status === 304;
          if (!bodyless && Number(res.headers["content-length"] ?? Number.NaN) > limit) return fail("too_large", tooLarge);
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > limit) return fail("too_large", tooLarge);
            chunks.push(chunk);
          });
          res.on("end", () => finish(answer(res, Buffer.concat(chunks))));
          res.on("error", (error) => fail("network_error", `upstream response failed: ${describe(error)}`));
          res.on("close", () => {
            if (!res.complete) fail("network_error", "upstream closed the connection before the response was complete");
          });
        });
        req.end(body);
      },
      (error: unknown) => {
        if (error instanceof UpstreamRefusedError) fail("refused", error.message);
        else fail("network_error", `could not resolve upstream host "${host}": ${describe(error)}`);
      },
    );
  });
}

/** A `lookup` for net.connect that answers with the guard's addresses instead of asking DNS again. */
function pinnedLookup(addresses: readonly ResolvedAddress[]): LookupFunction {
  return (_hostname, lookupOptions, callback) => {
    if (lookupOptions.all === true)
      return callback(
        null,
        addresses.map(({ address, family }) => ({ address, family })),
      );
    const wanted = lookupOptions.family === 4 || lookupOptions.family === 6 ? lookupOptions.family : undefined;
    const first = addresses.find((a) => wanted === undefined || a.family === wanted) ?? addresses[0];
    if (first === undefined) return callback(Object.assign(new Error("no checked address"), { code: "ENOTFOUND" }), "", 0);
    callback(null, first.address, first.family);
  };
}

/** The upstream answer as one text content; isError for anything but 2xx. */
function answer(res: http.IncomingMessage, body: Buffer): UpstreamCallResult {
  const status = res.statusCode ?? 0;
  const statusLine = `HTTP ${status} ${res.statusMessage || http.STATUS_CODES[status] || ""}`.trimEnd();
  const text = bodyText(body, res.headers["content-type"]);
  if (status >= 200 && status < 300) {
    // An empty 2xx (204, or HEAD) still tells the model something happened.
    return { result: { content: [{ type: "text", text: text === "" ? statusLine : text }] }, outcome: "ok", status };
  }
  const location = res.headers.location;
  const head =
    status >= 300 && status < 400 ? `${statusLine}\n(redirect not followed${location === undefined ? "" : `: location ${location}`})` : statusLine;
  return { result: { content: [{ type: "text", text: text === "" ? head : `${head}\n${text}` }], isError: true }, outcome: "http_error", status };
}

/** Decodes by the declared charset (UTF-8 by default); JSON media types are pretty-printed when they parse. */
function bodyText(body: Buffer, contentType: string | undefined): string {
  const [mediaType = "", ...params] = (contentType ?? "").split(";").map((part) => part.trim().toLowerCase());
  const charset = params
    .find((param) => param.startsWith("charset="))
    ?.slice("charset=".length)
    .replace(/"/g, "");
  let text: string;
  try {
    text = new TextDecoder(charset ?? "utf-8").decode(body);
  } catch {
    text = new TextDecoder("utf-8").decode(body);
  }
  if (mediaType === "application/json" || mediaType.endsWith("+json")) {
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      return text;
    }
  }
  return text;
}

/** A short description of a network error: its message, else its code; never a stack. */
function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(describe).join("; ");
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return error.message || code || error.name;
  }
  return String(error);
}

function failure(outcome: UpstreamOutcome, text: string, status?: number): UpstreamCallResult {
  return { result: { content: [{ type: "text", text }], isError: true }, outcome, ...(status === undefined ? {} : { status }) };
}
