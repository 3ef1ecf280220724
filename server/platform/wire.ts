import type { Message } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import type { HandlerContext } from "@connectrpc/connect";

/*
 * Pre-encoded sub-messages for binary responses.
 *
 * protobuf-es encodes `google.protobuf.Struct` slowly: `toBinary` of a resolved
 * toolset of 200 tools with Struct input schemas takes tens of milliseconds,
 * 10-25x the JSON encoding of the same message. A handler answering the same
 * state again and again can encode the sub-message once, keep the bytes, and
 * hand them to every binary response with `withEncodedField`: the bytes travel
 * as an unknown field of the response message, which `toBinary` copies verbatim
 * (`writer.tag(no, wireType).raw(data)`), so the client decodes them as the field
 * itself.
 *
 * The rule: only a response that connect-es will serialize as protobuf binary
 * may carry such a field. The JSON encoding drops unknown fields without a word,
 * so a Connect JSON (or gRPC/gRPC-Web +json) client would see the field unset.
 * Ask `wantsBinary(ctx)` first and give every other request the real message.
 * (It also relies on the router's `binaryOptions.writeUnknownFields` staying at
 * its default, true.)
 */

/** gRPC: the request content type names the response codec (`application/grpc` is proto). */
const GRPC_PROTO = /^application\/grpc(?:\+proto)?$/i;
/** gRPC-Web binary; `-text` (base64) is refused by connect-es and `+json` is JSON. */
const GRPC_WEB_PROTO = /^application\/grpc-web(?:\+proto)?$/i;
/** Connect unary POST (`application/proto`) and streaming (`application/connect+proto`). */
const CONNECT_PROTO = /^application\/(?:connect\+)?proto$/i;
/** What connect-es sets as the response content type when it will serialize binary. */
const BINARY_RESPONSE = /^application\/(?:proto|connect\+proto|grpc\+proto|grpc-web\+proto)$/i;

/**
 * True only when connect-es will serialize this call's response as protobuf
 * binary: gRPC (`application/grpc`, `+proto`), gRPC-Web binary
 * (`application/grpc-web`, `+proto`), Connect unary `application/proto`,
 * Connect streaming `application/connect+proto`, and a Connect unary GET whose
 * query says `encoding=proto` (a GET's codec is in its URL, not its headers: a
 * GET may carry any content-type header, which connect-es ignores).
 *
 * Both the request (protocol, method, content type or query) and the response
 * content type connect-es recorded in `ctx.responseHeader` when it picked the
 * codec must say binary; anything else, or unknown, is false. A false answer
 * only costs speed; a wrong true would send JSON clients an empty field.
 */
export function wantsBinary(ctx: HandlerContext): boolean {
  const declared = ctx.responseHeader.get("content-type");
  if (declared === null || !BINARY_RESPONSE.test(declared)) return false;
  const contentType = ctx.requestHeader.get("content-type") ?? "";
  switch (ctx.protocolName) {
    case "grpc":
      return GRPC_PROTO.test(contentType);
    case "grpc-web":
      return GRPC_WEB_PROTO.test(contentType);
    case "connect":
      if (ctx.requestMethod === "GET") return getEncoding(ctx.url) === "proto";
      return ctx.requestMethod === "POST" && CONNECT_PROTO.test(contentType);
    default:
      return false;
  }
}

/** The `encoding` query parameter of a Connect GET (connect-es compares it exactly: `proto` or `json`). */
function getEncoding(url: string): string | null {
  try {
    return new URL(url, "http://localhost").searchParams.get("encoding");
  } catch {
    return null;
  }
}

/** The largest field number protobuf allows (2^29 - 1). */
const MAX_FIELD_NO = 0x1fffffff;

/**
 * Puts `encoded`, the binary encoding of a sub-message, on `message` as field
 * `fieldNo` and returns `message`. The bytes become a length-delimited unknown
 * field, which `toBinary` writes verbatim after the known fields: on the wire
 * it is the field itself, so clients decode the sub-message (field order does
 * not matter in protobuf). Encoding the wrapper then costs a copy of the bytes,
 * not a walk of the sub-message.
 *
 * For binary responses only (see `wantsBinary`): the JSON encoding ignores
 * unknown fields, so a JSON client would receive the field unset.
 *
 * The field itself must be unset on `message`, else both are written and a
 * decoder merges the two. A previous unknown field of the same number is
 * replaced. Costs one copy of `encoded` (the unknown field's data is the
 * varint length prefix followed by the bytes, in one array, and
 * `BinaryWriter.raw` takes a single array).
 */
export function withEncodedField<T extends Message>(message: T, fieldNo: number, encoded: Uint8Array): T {
  if (!Number.isInteger(fieldNo) || fieldNo < 1 || fieldNo > MAX_FIELD_NO) {
    throw new RangeError(`invalid field number ${fieldNo}`);
  }
  let length = encoded.length;
  let prefix = 1;
  for (let n = length; n > 0x7f; n >>>= 7) prefix++;
  const data = new Uint8Array(prefix + length);
  let i = 0;
  while (length > 0x7f) {
    data[i++] = (length & 0x7f) | 0x80;
    length >>>= 7;
  }
  data[i++] = length;
  data.set(encoded, i);
  const others = message.$unknown?.filter((u) => u.no !== fieldNo) ?? [];
  message.$unknown = [...others, { no: fieldNo, wireType: WireType.LengthDelimited, data }];
  return message;
}
