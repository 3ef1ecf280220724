import type { JsonObject, JsonValue, Message, UnknownField } from "@bufbuild/protobuf";
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
  return withUnknownField(message, encodedField(fieldNo, encoded));
}

/**
 * `encoded` as the unknown field `fieldNo` (its varint length prefix and bytes in
 * one array): build it once and attach it to many responses with
 * `withUnknownField`, so they share one copy of the bytes.
 */
export function encodedField(fieldNo: number, encoded: Uint8Array): UnknownField {
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
  return { no: fieldNo, wireType: WireType.LengthDelimited, data };
}

/** Puts `field` on `message` as an unknown field (replacing one of the same number); same rules as `withEncodedField`. */
export function withUnknownField<T extends Message>(message: T, field: UnknownField): T {
  const others = message.$unknown?.filter((u) => u.no !== field.no) ?? [];
  message.$unknown = [...others, field];
  return message;
}

/**
 * The protobuf binary encoding of a `google.protobuf.Struct` holding `json`,
 * written directly (protobuf-es reaches the same bytes by reflection over
 * `Value`'s oneof, about ten times slower). Decodes to the Struct protobuf-es
 * would have written: map entries in `json`'s key order, every `Value` with its
 * kind set (`null_value`, `number_value`, `string_value`, `bool_value`,
 * `struct_value`, `list_value`). Keys whose value is `undefined` are left out,
 * as JSON leaves them.
 */
export function encodeStruct(json: JsonObject): Uint8Array {
  // Two passes over the tree: the first records every length prefix (in visit
  // order), the second writes into one buffer of the exact size. protobuf-es's
  // BinaryWriter would fork and join a buffer per entry and per Value instead.
  const sizes: number[] = [];
  const out = Buffer.allocUnsafe(measureStruct(json, sizes));
  const end = writeStruct(json, { out, at: 0, sizes, next: 0 });
  if (end !== out.length) throw new Error(`encodeStruct wrote ${end} of ${out.length} bytes`);
  return out;
}

// google/protobuf/struct.proto tags (field number << 3 | wire type): Struct.fields = 1;
// its map entry: key = 1, value = 2; Value: null_value = 1, number_value = 2,
// string_value = 3, bool_value = 4, struct_value = 5, list_value = 6; ListValue.values = 1.
const TAG_STRUCT_FIELDS = (1 << 3) | WireType.LengthDelimited;
const TAG_ENTRY_KEY = (1 << 3) | WireType.LengthDelimited;
const TAG_ENTRY_VALUE = (2 << 3) | WireType.LengthDelimited;
const TAG_NULL = (1 << 3) | WireType.Varint;
const TAG_NUMBER = (2 << 3) | WireType.Bit64;
const TAG_STRING = (3 << 3) | WireType.LengthDelimited;
const TAG_BOOL = (4 << 3) | WireType.Varint;
const TAG_STRUCT = (5 << 3) | WireType.LengthDelimited;
const TAG_LIST = (6 << 3) | WireType.LengthDelimited;
const TAG_LIST_VALUES = (1 << 3) | WireType.LengthDelimited;

function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** A length-delimited field of `size` bytes with a one-byte tag: its whole size. */
function delimited(size: number): number {
  return 1 + varintSize(size) + size;
}

function measureStruct(json: JsonObject, sizes: number[]): number {
  let total = 0;
  for (const key of Object.keys(json)) {
    const value = json[key];
    if (value === undefined) continue;
    const entryAt = sizes.push(0) - 1;
    const keyBytes = Buffer.byteLength(key, "utf8");
    sizes.push(keyBytes);
    const valueAt = sizes.push(0) - 1;
    const valueBytes = measureValue(value, sizes);
    sizes[valueAt] = valueBytes;
    const entry = delimited(keyBytes) + delimited(valueBytes);
    sizes[entryAt] = entry;
    total += delimited(entry);
  }
  return total;
}

/** The size of a Value message's content. */
function measureValue(value: JsonValue, sizes: number[]): number {
  if (value === null || typeof value === "boolean") return 2;
  if (typeof value === "number") return 9;
  if (typeof value === "string") {
    const bytes = Buffer.byteLength(value, "utf8");
    sizes.push(bytes);
    return delimited(bytes);
  }
  const at = sizes.push(0) - 1;
  let content = 0;
  if (Array.isArray(value)) {
    for (const item of value) {
      const itemAt = sizes.push(0) - 1;
      const itemBytes = measureValue(item, sizes);
      sizes[itemAt] = itemBytes;
      content += delimited(itemBytes);
    }
  } else {
    content = measureStruct(value, sizes);
  }
  sizes[at] = content;
  return delimited(content);
}

interface Cursor {
  out: Buffer;
  at: number;
  sizes: number[];
  next: number;
}

function writeVarint(c: Cursor, n: number): void {
  while (n > 0x7f) {
    c.out[c.at++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  c.out[c.at++] = n;
}

/** Writes `tag`, then the next recorded size as the length prefix; returns that size. */
function writeHeader(c: Cursor, tag: number): number {
  const size = c.sizes[c.next++]!;
  c.out[c.at++] = tag;
  writeVarint(c, size);
  return size;
}

function writeStruct(json: JsonObject, c: Cursor): number {
  for (const key of Object.keys(json)) {
    const value = json[key];
    if (value === undefined) continue;
    writeHeader(c, TAG_STRUCT_FIELDS);
    writeHeader(c, TAG_ENTRY_KEY);
    c.at += c.out.write(key, c.at, "utf8");
    writeHeader(c, TAG_ENTRY_VALUE);
    writeValue(value, c);
  }
  return c.at;
}

function writeValue(value: JsonValue, c: Cursor): void {
  if (value === null) {
    c.out[c.at++] = TAG_NULL;
    c.out[c.at++] = 0;
  } else if (typeof value === "boolean") {
    c.out[c.at++] = TAG_BOOL;
    c.out[c.at++] = value ? 1 : 0;
  } else if (typeof value === "number") {
    c.out[c.at++] = TAG_NUMBER;
    c.at = c.out.writeDoubleLE(value, c.at);
  } else if (typeof value === "string") {
    writeHeader(c, TAG_STRING);
    c.at += c.out.write(value, c.at, "utf8");
  } else if (Array.isArray(value)) {
    writeHeader(c, TAG_LIST);
    for (const item of value) {
      writeHeader(c, TAG_LIST_VALUES);
      writeValue(item, c);
    }
  } else {
    writeHeader(c, TAG_STRUCT);
    writeStruct(value, c);
  }
}
