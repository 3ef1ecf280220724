import { constants as http2Constants } from "node:http2";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createConnectRouter,
  createContextValues,
  type ConnectRouter,
  type ConnectRouterOptions,
  type ContextValues,
  type Interceptor,
} from "@connectrpc/connect";
import type { UniversalHandlerOptions, UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { codeFromHttpStatus, codeFromString } from "@connectrpc/connect/protocol-connect";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import { getQueryProblem, isEnveloped, protocolOf, refusalInterceptor, refusalKey, withEmptyMessage } from "./edge-admission.js";
import { asBadInput, isParseBinaryMessage, refuseUndeclaredCompression, REQUEST_COMPRESSIONS, strictJsonOptions } from "./edge-codec.js";
import { InFlightGate, requestLimitOf, tooLarge } from "./edge-limits.js";
import { capped, toConnectError } from "./errors.js";
import type { Logger } from "./logging.js";
import { withRequestId } from "./observe.js";
import { clampTimeoutHeaders, clientAddressOf, REQUEST_ID_HEADER, requestIdFrom, runInRequest, timeoutMsFrom } from "./request-context.js";
import type { RequestHandler } from "./server.js";

/** Services whose unary calls are never refused for overload: a load balancer's health check must see the truth. */
const NOT_GATED: ReadonlySet<string> = new Set(["grpc.health.v1.Health"]);

/** Whether MAX_IN_FLIGHT bounds calls of `method`: unary ones (streams have bounds of their own). */
function gated(method: DescMethod): boolean {
  return method.methodKind === "unary" && !NOT_GATED.has(method.parent.typeName);
}

/** Whether `method` takes one request message (unary, server streaming): its body ends with it. */
function singleRequest(method: DescMethod): boolean {
  return method.methodKind === "unary" || method.methodKind === "server_streaming";
}

/** The RPC handler, and what it counts. */
export type RpcHandler = RequestHandler & {
  /** Unary RPCs in progress (those MAX_IN_FLIGHT bounds). */
  inFlight(): number;
};

/**
 * Like connectNodeAdapter, with the work done before the body is decoded
 * bounded, and bad input answered as bad input:
 *
 * - Before the body is read, from its headers alone, a request is refused when
 *   `maxInFlight` unary calls are in progress (RESOURCE_EXHAUSTED, OVERLOADED),
 *   when `admit` refuses it (no key, an unknown key), when its Content-Length is
 *   over its RPC's limit, or when a GET's query cannot be decoded. Its body is
 *   then never read: see edge-admission.ts for how each protocol gets its answer.
 * - Each RPC has its own request size limit (edge-limits.ts), counted as the
 *   body streams in and again after decompression (RESOURCE_EXHAUSTED).
 * - JSON requests are strict: not UTF-8, a field the message does not have, or
 *   an enum name the enum does not have is INVALID_ARGUMENT naming the field
 *   (edge-codec.ts). Bytes that are not protobuf binary, a message flagged
 *   compressed with no encoding, and a body that fails to decompress are
 *   INVALID_ARGUMENT on every protocol; connect-es answers INTERNAL. (The gRPC
 *   status table lists INTERNAL for the last two; this service keeps INTERNAL
 *   for its own faults, so a client and an alert can tell them apart.)
 * - A request that ends before the interceptors ran (refused above, or failing
 *   to decode) is logged here, one line like the observe interceptor's, with
 *   the code the client was sent; every other request is logged by that
 *   interceptor (it sets the request's `observed` mark).
 */
export function createRpcHandler(
  options: ConnectRouterOptions & {
    routes: (router: ConnectRouter) => void;
    logger: Logger;
    /**
     * Aborted when shutdown begins; handlers see it as their context's signal.
     * Streaming handlers end on it at once (an open Watch must not hold up
     * shutdown); unary handlers ignore it, so the server drains them. A unary
     * handler must not hand ctx.signal to work it wants to finish in the drain.
     */
    streamShutdownSignal?: AbortSignal;
    /** Proxies whose X-Forwarded-For entries are trusted for the client address. */
    trustedProxyHops?: number;
    /** Unary RPCs in progress at once (MAX_IN_FLIGHT); more are refused at once. Undefined = no bound. */
    maxInFlight?: number;
    /**
     * Runs before the body is read, from the method and headers alone: throws
     * to refuse the request (a ConnectError is sent as it is, anything else as
     * errors.ts maps it), or stores in `values` what the interceptors should
     * not work out again (the caller).
     */
    admit?: (method: DescMethod, header: Headers, values: ContextValues) => Promise<void>;
    /** The caller id for the log line of a request the interceptors did not see. */
    callerIdOf?: (values: ContextValues) => string | null;
    /** Each request that ended before the interceptors ran, with the error it was sent (undefined = OK): for metrics. */
    onUnobserved?: (procedure: string, error: ConnectError | undefined) => void;
  },
): RpcHandler {
  const maxRequestBytes = options.readMaxBytes ?? 0xffffffff;
  const gate = new InFlightGate(options.maxInFlight ?? Infinity);
  const router = createConnectRouter({
    acceptCompression: REQUEST_COMPRESSIONS,
    ...options,
    ...(options.streamShutdownSignal !== undefined ? { shutdownSignal: options.streamShutdownSignal } : {}),
    interceptors: [refusalInterceptor(), ...(options.interceptors ?? []), inFlightInterceptor(gate), decodeErrorsInterceptor()],
  });
  options.routes(
    perMethodRouter(router, (method) => ({
      readMaxBytes: requestLimitOf(method, maxRequestBytes),
      jsonOptions: { ...options.jsonOptions, ...strictJsonOptions(method.input) },
    })),
  );
  const paths = new Map(router.handlers.map((h) => [h.requestPath, h]));

  const handler = (req: Parameters<RequestHandler>[0], res: Parameters<RequestHandler>[1]) => {
    const uHandler = paths.get((req.url ?? "").split("?", 2)[0] ?? "");
    if (!uHandler) {
      res.writeHead(404);
      res.end();
      return;
    }
    const started = performance.now();
    const method = uHandler.method;
    const requestId = requestIdFrom(req.headers);
    res.setHeader(REQUEST_ID_HEADER, requestId);
    const timeoutMs = timeoutMsFrom(req.headers);
    clampTimeoutHeaders(req.headers);
    const values = createContextValues();
    const uReq = universalRequestFromNodeRequest(req, res, undefined, values);
    const context = {
      requestId,
      clientAddress: clientAddressOf(req.socket.remoteAddress, req.headers, options.trustedProxyHops ?? 0),
      deadline: timeoutMs === undefined ? undefined : performance.now() + timeoutMs,
      signal: timeoutMs === undefined ? uReq.signal : withDeadline(uReq.signal, timeoutMs, res),
      marks: { observed: false },
    };
    const ended: Ended = { known: false, code: undefined, message: "" };
    let cause: unknown;

    /** Why the request is refused before its body is read, if it is. */
    const refusal = async (): Promise<ConnectError | undefined> => {
      const overloaded = gated(method) ? gate.refusal() : undefined;
      if (overloaded !== undefined) return overloaded;
      try {
        await options.admit?.(method, uReq.header, values);
      } catch (e) {
        const mapped = toConnectError(e);
        cause = mapped.cause;
        return withRequestId(mapped.error, context);
      }
      const declared = Number(req.headers["content-length"] ?? NaN);
      const limit = requestLimitOf(method, maxRequestBytes);
      const framing = isEnveloped(req.headers["content-type"] ?? "") ? 5 : 0;
      if (singleRequest(method) && Number.isSafeInteger(declared) && declared - framing > limit) return tooLarge(declared - framing, limit);
      if (req.method === "GET") return getQueryProblem(uReq.url);
      return undefined;
    };

    let refused: ConnectError | undefined;
    // Once the response is done (sent, or the client gone): the log line of a
    // request the interceptors did not see. (The adapter's promise may not
    // settle on HTTP/1.1, so the response's close is what counts.)
    res.once("close", () => {
      if (context.marks.observed) return;
      const fields = {
        procedure: uHandler.requestPath,
        protocol: protocolOf(req.method ?? "", req.headers["content-type"] ?? null),
        // Nothing read: the client went away before the answer.
        code: !ended.known ? Code[Code.Canceled] : ended.code === undefined ? "OK" : Code[ended.code],
        duration_ms: Math.round((performance.now() - started) * 10) / 10,
        caller_id: options.callerIdOf?.(values) ?? null,
        request_id: requestId,
      };
      if (cause !== undefined) options.logger.error("rpc", { ...fields, cause });
      else options.logger.info("rpc", fields);
      const sent = !ended.known
        ? new ConnectError("the client went away", Code.Canceled)
        : ended.code === undefined
          ? undefined
          : new ConnectError(ended.message, ended.code);
      options.onUnobserved?.(uHandler.requestPath, refused ?? sent);
    });
    void runInRequest(context, async () => {
      try {
        refused = await refusal();
        if (refused !== undefined) values.set(refusalKey, refused);
        const uRes = await uHandler(refused !== undefined ? withEmptyMessage(uReq) : withBodyChecks(uReq, req));
        // A single-message request is read to its end before the answer, unless it was refused or over its limit.
        if (!req.complete && (refused !== undefined || singleRequest(method))) dropUnreadBody(req, res);
        await universalResponseToNodeResponse(inspectResponse(uRes, ended), res);
      } catch (reason) {
        if (ConnectError.from(reason).code === Code.Aborted) return; // client went away
        options.logger.error("rpc response failed", { procedure: uHandler.requestPath, cause: reason });
      }
    });
  };
  return Object.assign(handler, { inFlight: () => gate.inFlight });
}

/**
 * Registers each method of a service on its own, so that each gets its own
 * request size limit and JSON options (connect-es takes them per registration).
 * A method the implementation lacks answers UNIMPLEMENTED, as router.service does.
 */
function perMethodRouter(router: ConnectRouter, optionsOf: (method: DescMethod) => Partial<UniversalHandlerOptions>): ConnectRouter {
  const facade: ConnectRouter = {
    handlers: router.handlers,
    service(service: DescService, implementation: Record<string, unknown>, options?: Partial<UniversalHandlerOptions>) {
      for (const method of service.methods) {
        const fn = implementation[method.localName];
        const impl =
          typeof fn === "function"
            ? fn.bind(implementation)
            : () => {
                throw new ConnectError(`${service.typeName}.${method.name} is not implemented`, Code.Unimplemented);
              };
        router.rpc(method, impl as never, { ...options, ...optionsOf(method) });
      }
      return facade;
    },
    rpc(method, impl, options) {
      router.rpc(method, impl, { ...options, ...optionsOf(method) });
      return facade;
    },
  } as ConnectRouter;
  return facade;
}

/** Holds a MAX_IN_FLIGHT place while a unary call's handler works (the request is decoded by then). */
function inFlightInterceptor(gate: InFlightGate): Interceptor {
  return (next) => (req) => (gated(req.method) ? gate.run(() => next(req)) : next(req));
}

/**
 * Innermost interceptor: a server-streaming call decodes its request inside the
 * interceptors, so a request that is not protobuf is made INVALID_ARGUMENT here,
 * before the observe interceptor logs it (a unary call decodes before the
 * interceptors: see inspectResponse).
 */
function decodeErrorsInterceptor(): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (e) {
      throw e instanceof ConnectError ? asBadInput(e) : e;
    }
  };
}

/**
 * The request as connect-es reads it: enveloped bodies declaring no encoding
 * may not flag a message compressed. When connect-es stops reading early (a
 * body over its limit), the request is left open rather than destroyed, which
 * would reset the connection or stream under the answer: see dropUnreadBody.
 */
function withBodyChecks(uReq: UniversalServerRequest, req: Parameters<RequestHandler>[0]): UniversalServerRequest {
  let body = req.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>;
  const contentType = uReq.header.get("content-type") ?? "";
  if (isEnveloped(contentType)) {
    const header = /^application\/connect\+/i.test(contentType) ? "connect-content-encoding" : "grpc-encoding";
    const encoding = uReq.header.get(header);
    if (encoding === null || encoding === "identity") body = refuseUndeclaredCompression(body, header);
  }
  return { ...uReq, body };
}

/** How long a refused HTTP/2 client may go on sending the body it was answered for, before its stream is reset. */
const UNREAD_BODY_GRACE_MS = 1_000;

/**
 * The answer is ready before the whole body arrived (refused before reading, or
 * over its limit): the rest is read and dropped, never decoded, so the client's
 * upload can end and the connection stays sound. HTTP/1.1: the connection is
 * not reused (a client may stop sending mid-body and write its next request
 * where the server still expects this body); the server's request timeout
 * bounds a client that never stops. HTTP/2: a stream still open after a grace
 * is reset with NO_ERROR, which asks the client to stop sending (RFC 9113 §8.1);
 * at once would drop the trailers still queued behind the answer.
 */
function dropUnreadBody(req: Parameters<RequestHandler>[0], res: Parameters<RequestHandler>[1]): void {
  if (req.httpVersionMajor === 1) res.setHeader("connection", "close");
  req.resume();
  if ("stream" in req) {
    const stream = req.stream;
    setTimeout(() => stream.closed || stream.close(http2Constants.NGHTTP2_NO_ERROR), UNREAD_BODY_GRACE_MS).unref();
  }
}

/**
 * `clientGone`, also aborted with DEADLINE_EXCEEDED once `ms` have passed; the
 * timer stops when the response closes, so a long deadline holds nothing after
 * the call.
 */
function withDeadline(clientGone: AbortSignal, ms: number, res: { once(event: "close", listener: () => void): unknown }): AbortSignal {
  const controller = new AbortController();
  const abort = (reason: unknown) => controller.abort(reason);
  const timer = setTimeout(() => abort(new ConnectError("the deadline passed", Code.DeadlineExceeded)), ms);
  timer.unref();
  if (clientGone.aborted) abort(clientGone.reason);
  else clientGone.addEventListener("abort", () => abort(clientGone.reason), { once: true });
  res.once("close", () => clearTimeout(timer));
  return controller.signal;
}

/** How a response ended, as the client was told. */
interface Ended {
  /** Whether the status was read (false: the response never got that far). */
  known: boolean;
  /** undefined = OK. */
  code: Code | undefined;
  message: string;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Reads the code of a Connect error JSON (`wrapped`: an end-stream message's `error`), fixing a "parse binary" INTERNAL. */
function readJsonError(bytes: Uint8Array, wrapped: boolean, ended: Ended): Uint8Array | undefined {
  let parsed: { code?: string; message?: string; error?: { code?: string; message?: string } };
  try {
    parsed = JSON.parse(decoder.decode(bytes)) as typeof parsed;
  } catch {
    return undefined;
  }
  const err = wrapped ? parsed.error : parsed;
  ended.known = true;
  ended.code = err?.code === undefined ? undefined : (codeFromString(err.code) ?? Code.Unknown);
  ended.message = err?.message ?? "";
  // Errors raised while decoding never pass the interceptors, where messages are bounded (errors.ts).
  const tooLong = err?.message !== undefined && capped(err.message) !== err.message;
  if (err && tooLong) err.message = capped(err.message!);
  const parseError = err?.code === "internal" && isParseBinaryMessage(err.message ?? "");
  if (!parseError && !tooLong) return undefined;
  if (err && parseError) {
    err.code = "invalid_argument";
    ended.code = Code.InvalidArgument;
  }
  return encoder.encode(JSON.stringify(parsed));
}

/** Reads grpc-status and grpc-message; a "parse binary" INTERNAL is rewritten to INVALID_ARGUMENT in `fields`, a long message cut. Returns whether `fields` changed. */
function readGrpcStatus(fields: Headers | undefined, ended: Ended): boolean {
  const status = fields?.get("grpc-status");
  if (status === null || status === undefined) return false;
  ended.known = true;
  ended.code = status === "0" ? undefined : (Number(status) as Code);
  ended.message = decodeURIComponent(fields?.get("grpc-message") ?? "");
  // Errors raised while decoding never pass the interceptors, where messages are bounded (errors.ts).
  const tooLong = capped(ended.message) !== ended.message;
  if (tooLong) fields?.set("grpc-message", encodeURIComponent(capped(ended.message)));
  const parseError = ended.code === Code.Internal && isParseBinaryMessage(ended.message);
  if (!parseError) return tooLong;
  fields?.set("grpc-status", String(Code.InvalidArgument));
  ended.code = Code.InvalidArgument;
  return true;
}

/** A Connect streaming envelope: the end-stream (0x02) JSON says how the call ended. */
function readConnectEndStream(chunk: Uint8Array, ended: Ended): Uint8Array {
  if (chunk.length < 5 || !(chunk[0]! & 0x02)) return chunk;
  const fixed = readJsonError(chunk.subarray(5), true, ended);
  return fixed ? envelope(chunk[0]!, fixed) : chunk;
}

/** A gRPC-Web envelope: the trailer frame (0x80) carries the status, as header lines. */
function readGrpcWebTrailer(chunk: Uint8Array, ended: Ended): Uint8Array {
  if (chunk.length < 5 || !(chunk[0]! & 0x80)) return chunk;
  const fields = new Headers();
  for (const line of decoder.decode(chunk.subarray(5)).split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) fields.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  if (!readGrpcStatus(fields, ended)) return chunk;
  let text = "";
  fields.forEach((value, key) => (text += `${key}: ${value}\r\n`));
  return envelope(chunk[0]!, encoder.encode(text));
}

function envelope(flags: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, 5);
  return out;
}

/**
 * Reads how the call ended into `ended`, where each protocol puts it, and turns
 * connect-es's "parse binary" INTERNAL (a unary request is decoded before any
 * interceptor runs) into INVALID_ARGUMENT. Only enveloped bodies are read chunk
 * by chunk (each chunk holds one whole envelope): Connect streaming
 * (`application/connect+…`, the end-stream) and gRPC-Web (the trailer frame);
 * gRPC's status is in the HTTP trailers, read once the body has been sent. A
 * Connect unary success passes through untouched (any size); its errors are
 * small JSON bodies, read whole so the status can change.
 */
function inspectResponse(uRes: UniversalServerResponse, ended: Ended): UniversalServerResponse {
  const body = uRes.body;
  const contentType = uRes.header?.get("content-type") ?? "";
  if (body === undefined) {
    if (!readGrpcStatus(uRes.header, ended) && !ended.known) {
      ended.known = true;
      ended.code = uRes.status === 200 ? undefined : codeFromHttpStatus(uRes.status);
    }
    return uRes;
  }
  if (/^application\/connect\+/i.test(contentType)) return { ...uRes, body: mapChunks(body, (c) => readConnectEndStream(c, ended)) };
  if (/^application\/grpc-web/i.test(contentType)) {
    readGrpcStatus(uRes.header, ended); // trailers-only
    return { ...uRes, body: mapChunks(body, (c) => readGrpcWebTrailer(c, ended)) };
  }
  if (/^application\/grpc/i.test(contentType)) {
    const trailer = uRes.trailer;
    return {
      ...uRes,
      body: (async function* () {
        yield* body;
        readGrpcStatus(uRes.header?.has("grpc-status") ? uRes.header : trailer, ended);
      })(),
    };
  }
  ended.known = true;
  ended.code = uRes.status === 200 ? undefined : codeFromHttpStatus(uRes.status);
  if (uRes.status === 200) return uRes;
  if (!contentType.startsWith("application/json")) return uRes;
  // A Connect unary error: a small JSON body, read whole so the status can
  // change (the adapter sends the head after the first chunk is read).
  const out: UniversalServerResponse = { ...uRes };
  out.body = (async function* () {
    const chunks: Uint8Array[] = [];
    for await (const c of body) chunks.push(c);
    const bytes = Buffer.concat(chunks);
    const fixed = readJsonError(bytes, false, ended);
    if (fixed) {
      out.header?.set("content-length", String(fixed.length));
      out.status = 400;
    }
    yield fixed ?? bytes;
  })();
  return out;
}

async function* mapChunks(body: AsyncIterable<Uint8Array>, fix: (chunk: Uint8Array) => Uint8Array): AsyncIterable<Uint8Array> {
  for await (const chunk of body) yield fix(chunk);
}
