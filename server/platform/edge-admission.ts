import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import type { UniversalServerRequest } from "@connectrpc/connect/protocol";

// A request the RPC handler refuses from its headers alone (no key, too large,
// too many calls in progress, a malformed GET query) is answered without its
// body being read or decoded. connect-es writes the answer, so it has each
// protocol's shape (Connect unary and streaming, GET, gRPC, gRPC-Web): it is
// handed an empty message in the request's own codec and framing instead of
// the body, and the refusal interceptor, outermost, throws the stored error
// before any other interceptor or the handler runs.

/** The refusal of a request decided before its body was read; set by the RPC handler only (a client cannot set context values). */
export const refusalKey = createContextKey<ConnectError | undefined>(undefined, { description: "refused before decoding" });

/** Outermost interceptor: throws the request's refusal, if it has one. */
export function refusalInterceptor(): Interceptor {
  return (next) => async (req) => {
    const refusal = req.contextValues.get(refusalKey);
    if (refusal !== undefined) throw refusal;
    return next(req);
  };
}

const encoder = new TextEncoder();

/** Whether the request's body is a sequence of 5-byte-prefixed envelopes (gRPC, gRPC-Web, Connect streaming). */
export function isEnveloped(contentType: string): boolean {
  return /^application\/(grpc|connect\+)/i.test(contentType);
}

/**
 * `uReq` with an empty message in place of its body (or of a GET's `message`
 * query parameter): `{}` for JSON codecs, zero bytes for binary, in one
 * uncompressed envelope where the protocol frames messages. The client's body
 * is never read.
 */
export function withEmptyMessage(uReq: UniversalServerRequest): UniversalServerRequest {
  const contentType = uReq.header.get("content-type") ?? "";
  if (uReq.method === "GET") {
    const url = new URL(uReq.url);
    const json = url.searchParams.get("encoding") === "json";
    for (const name of ["message", "base64", "compression"]) url.searchParams.delete(name);
    url.searchParams.set("message", json ? "{}" : "");
    return { ...uReq, url: url.toString() };
  }
  const payload = /[/+]json(;|$)/i.test(contentType) ? encoder.encode("{}") : new Uint8Array(0);
  let body = payload;
  if (isEnveloped(contentType)) {
    body = new Uint8Array(5 + payload.length);
    new DataView(body.buffer).setUint32(1, payload.length);
    body.set(payload, 5);
  }
  // The substitute is not compressed, and its length is its own.
  uReq.header.delete("content-encoding");
  uReq.header.delete("content-length");
  return {
    ...uReq,
    body: (async function* () {
      yield body;
    })(),
  };
}

/**
 * Why a Connect GET's query cannot be decoded, if it cannot: percent-escapes
 * that are not UTF-8 (URLSearchParams would turn them into U+FFFD, and the text
 * would be stored changed), or a `message` that is not base64 when `base64=1`
 * (connect-es answers that INTERNAL). Checked after the key, so a GET without
 * one is answered UNAUTHENTICATED whatever its query holds.
 */
export function getQueryProblem(url: string): ConnectError | undefined {
  const query = url.split("?", 2)[1] ?? "";
  for (const part of query.split("&")) {
    try {
      decodeURIComponent(part.replace(/\+/g, " "));
    } catch {
      return new ConnectError("the query string is not valid percent-encoded UTF-8", Code.InvalidArgument);
    }
  }
  const params = new URLSearchParams(query);
  const message = params.get("message") ?? "";
  if (params.get("base64") === "1" && (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(message) || message.replace(/=+$/, "").length % 4 === 1)) {
    return new ConnectError("message: not valid base64 (the query has base64=1)", Code.InvalidArgument);
  }
  return undefined;
}

/** The protocol a request speaks, as logs and metrics name it. */
export function protocolOf(httpMethod: string, contentType: string | null): string {
  if (httpMethod === "GET") return "connect-get";
  if (contentType === null) return "unknown";
  if (/^application\/grpc-web/i.test(contentType)) return "grpc-web";
  if (/^application\/grpc/i.test(contentType)) return "grpc";
  if (/^application\/connect\+/i.test(contentType)) return "connect-stream";
  return "connect";
}
