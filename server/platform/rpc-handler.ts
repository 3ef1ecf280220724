import { Code, ConnectError, createConnectRouter, type ConnectRouter, type ConnectRouterOptions } from "@connectrpc/connect";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { Logger } from "./logging.js";
import { clampTimeoutHeaders, clientAddressOf, REQUEST_ID_HEADER, requestIdFrom, runInRequest, timeoutMsFrom } from "./request-context.js";
import type { RequestHandler } from "./server.js";

/**
 * Like connectNodeAdapter, with one correction: connect-es reports a request body
 * that is not valid protobuf binary as INTERNAL ("parse binary: …"), before any
 * interceptor runs. That is bad input, so it is answered as INVALID_ARGUMENT on
 * every protocol (Connect unary and streaming, gRPC, gRPC-Web).
 *
 * JSON requests naming a field the message does not have are refused with
 * INVALID_ARGUMENT naming it (proto3 JSON's default; connect-es ignores them
 * unless told), so a misspelt field is never dropped without a word.
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
  },
): RequestHandler {
  const router = createConnectRouter({
    acceptCompression: [compressionGzip, compressionBrotli],
    ...options,
    ...(options.streamShutdownSignal !== undefined ? { shutdownSignal: options.streamShutdownSignal } : {}),
    jsonOptions: { ...options.jsonOptions, ignoreUnknownFields: false },
  });
  options.routes(router);
  const paths = new Map(router.handlers.map((h) => [h.requestPath, h]));
  return (req, res) => {
    const uHandler = paths.get((req.url ?? "").split("?", 2)[0] ?? "");
    if (!uHandler) {
      res.writeHead(404);
      res.end();
      return;
    }
    const requestId = requestIdFrom(req.headers);
    res.setHeader(REQUEST_ID_HEADER, requestId);
    const timeoutMs = timeoutMsFrom(req.headers);
    clampTimeoutHeaders(req.headers);
    const uReq = universalRequestFromNodeRequest(req, res, undefined, undefined);
    const context = {
      requestId,
      clientAddress: clientAddressOf(req.socket.remoteAddress, req.headers, options.trustedProxyHops ?? 0),
      deadline: timeoutMs === undefined ? undefined : performance.now() + timeoutMs,
      signal: timeoutMs === undefined ? uReq.signal : AbortSignal.any([uReq.signal, deadlineSignal(timeoutMs)]),
      marks: { observed: false },
    };
    runInRequest(context, () => uHandler(uReq))
      .then(reclassifyParseErrors)
      .then((uRes) => universalResponseToNodeResponse(uRes, res))
      .catch((reason: unknown) => {
        if (ConnectError.from(reason).code === Code.Aborted) return; // client went away
        options.logger.error("rpc response failed", { procedure: uHandler.requestPath, cause: reason });
      });
  };
}

/** Aborted with DEADLINE_EXCEEDED once `ms` have passed (the timer does not hold the process open). */
function deadlineSignal(ms: number): AbortSignal {
  const controller = new AbortController();
  setTimeout(() => controller.abort(new ConnectError("the deadline passed", Code.DeadlineExceeded)), ms).unref();
  return controller.signal;
}

const PARSE_ERROR = /^parse binary: /;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Rewrites `{"code":"internal","message":"parse binary: …"}` as invalid_argument; other bytes pass. */
function fixJsonError(bytes: Uint8Array, wrapped: boolean): Uint8Array | undefined {
  let parsed: { code?: string; message?: string; error?: { code?: string; message?: string } };
  try {
    parsed = JSON.parse(decoder.decode(bytes)) as typeof parsed;
  } catch {
    return undefined;
  }
  const err = wrapped ? parsed.error : parsed;
  if (err?.code !== "internal" || !PARSE_ERROR.test(err.message ?? "")) return undefined;
  err.code = "invalid_argument";
  return encoder.encode(JSON.stringify(parsed));
}

function fixGrpcStatus(headers: Headers | undefined): void {
  if (headers?.get("grpc-status") !== String(Code.Internal)) return;
  if (PARSE_ERROR.test(decodeURIComponent(headers.get("grpc-message") ?? ""))) headers.set("grpc-status", String(Code.InvalidArgument));
}

/** A Connect streaming envelope: the end-stream (0x02) JSON may carry the error to fix. */
function fixConnectEndStream(chunk: Uint8Array): Uint8Array {
  if (chunk.length < 5 || !(chunk[0]! & 0x02)) return chunk;
  const fixed = fixJsonError(chunk.subarray(5), true);
  return fixed ? envelope(chunk[0]!, fixed) : chunk;
}

/** A gRPC-Web envelope: the trailer frame (0x80) may carry the status to fix. */
function fixGrpcWebTrailer(chunk: Uint8Array): Uint8Array {
  if (chunk.length < 5 || !(chunk[0]! & 0x80)) return chunk;
  const text = decoder.decode(chunk.subarray(5));
  const message = /grpc-message:\s*([^\r\n]*)/i.exec(text)?.[1] ?? "";
  if (!/grpc-status:\s*13\b/i.test(text) || !PARSE_ERROR.test(decodeURIComponent(message))) return chunk;
  return envelope(chunk[0]!, encoder.encode(text.replace(/grpc-status:\s*13\b/i, `grpc-status: ${Code.InvalidArgument}`)));
}

function envelope(flags: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, 5);
  return out;
}

/**
 * Finds connect-es's "parse binary" INTERNAL where each protocol puts it. Only
 * enveloped bodies are read chunk by chunk (each chunk holds one whole
 * envelope): Connect streaming (`application/connect+…`, the end-stream) and
 * gRPC-Web (the trailer frame); gRPC's status is in the HTTP trailers, fixed
 * once the body has been sent. A Connect unary body is not enveloped: its
 * errors are JSON with status 500 for INTERNAL, and any other unary response
 * (a success, JSON or binary, of any size) passes through untouched.
 */
async function reclassifyParseErrors(uRes: UniversalServerResponse): Promise<UniversalServerResponse> {
  const body = uRes.body;
  if (body === undefined) {
    fixGrpcStatus(uRes.header);
    return uRes;
  }
  const contentType = uRes.header?.get("content-type") ?? "";
  if (/^application\/connect\+/i.test(contentType)) return { ...uRes, body: mapChunks(body, fixConnectEndStream) };
  if (/^application\/grpc-web/i.test(contentType)) return { ...uRes, body: mapChunks(body, fixGrpcWebTrailer) };
  if (/^application\/grpc/i.test(contentType)) {
    const trailer = uRes.trailer;
    return {
      ...uRes,
      body: (async function* () {
        yield* body;
        fixGrpcStatus(trailer);
      })(),
    };
  }
  if (uRes.status === 500 && contentType.startsWith("application/json")) {
    // A Connect unary error: a small JSON body, read whole so the status can change.
    const chunks: Uint8Array[] = [];
    for await (const c of body) chunks.push(c);
    const bytes = Buffer.concat(chunks);
    const fixed = fixJsonError(bytes, false);
    uRes.header?.delete("content-length");
    return {
      ...uRes,
      status: fixed ? 400 : uRes.status,
      body: (async function* () {
        yield fixed ?? bytes;
      })(),
    };
  }
  return uRes;
}

async function* mapChunks(body: AsyncIterable<Uint8Array>, fix: (chunk: Uint8Array) => Uint8Array): AsyncIterable<Uint8Array> {
  for await (const chunk of body) yield fix(chunk);
}
