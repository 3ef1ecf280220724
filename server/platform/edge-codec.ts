import { isUtf8 } from "node:buffer";
import type { DescEnum, DescField, DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Compression } from "@connectrpc/connect/protocol";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import { detailedError } from "./errors.js";

// What connect-es is handed so that bad bytes are answered as bad input
// (INVALID_ARGUMENT, naming the field where there is one) on every protocol,
// and never stored changed or reported as a server fault.

/** The JSON decoding options of an RPC's requests: strict about UTF-8, unknown fields and unknown enum names. */
export interface StrictJsonOptions {
  ignoreUnknownFields: false;
  textDecoder: { decode(input?: Uint8Array): string };
}

const utf8 = new TextDecoder("utf-8");

/**
 * JSON decoding for requests of `input`: a body that is not valid UTF-8 is
 * refused (TextDecoder would turn each bad byte into U+FFFD, and the text would
 * be stored changed, while the same bytes in binary are refused); a field the
 * message does not have is refused naming it (decision 42); an enum name the
 * enum does not have is refused naming the field. protobuf-es refuses unknown
 * enum names too, but names only the enum type; the field is found by a second
 * walk, run only for messages that have enum fields (small requests: reads, mode
 * switches), so large writes are decoded once.
 */
export function strictJsonOptions(input: DescMessage): StrictJsonOptions {
  const checkEnums = hasEnumField(input, new Set());
  return {
    ignoreUnknownFields: false,
    textDecoder: {
      decode(bytes = new Uint8Array(0)) {
        if (!isUtf8(bytes)) throw new ConnectError("the request body is not valid UTF-8", Code.InvalidArgument);
        const text = utf8.decode(bytes);
        if (checkEnums) checkEnumNames(input, text);
        return text;
      },
    },
  };
}

/** Whether a message (or one it contains, by value) has an enum field; well-known types are left out. */
function hasEnumField(desc: DescMessage, seen: Set<DescMessage>): boolean {
  if (seen.has(desc) || isWellKnown(desc)) return false;
  seen.add(desc);
  return desc.fields.some((f) => fieldEnum(f) !== undefined || (fieldMessage(f) !== undefined && hasEnumField(fieldMessage(f)!, seen)));
}

function isWellKnown(desc: DescMessage): boolean {
  return desc.typeName.startsWith("google.protobuf.");
}

function fieldEnum(field: DescField): DescEnum | undefined {
  if (field.fieldKind === "enum") return field.enum;
  if (field.fieldKind === "list" && field.listKind === "enum") return field.enum;
  if (field.fieldKind === "map" && field.mapKind === "enum") return field.enum;
  return undefined;
}

function fieldMessage(field: DescField): DescMessage | undefined {
  if (field.fieldKind === "message") return field.message;
  if (field.fieldKind === "list" && field.listKind === "message") return field.message;
  if (field.fieldKind === "map" && field.mapKind === "message") return field.message;
  return undefined;
}

// protobuf-es's own bound on nesting; deeper input is refused by it.
const MAX_DEPTH = 100;

/** Throws INVALID_ARGUMENT naming the first enum field whose value the enum does not have; any other fault is left to protobuf-es. */
function checkEnumNames(desc: DescMessage, text: string): void {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return; // protobuf-es reports it
  }
  walk(desc, json, "", 0);
}

function walk(desc: DescMessage, json: unknown, prefix: string, depth: number): void {
  if (depth > MAX_DEPTH || isWellKnown(desc) || typeof json !== "object" || json === null || Array.isArray(json)) return;
  for (const [key, value] of Object.entries(json)) {
    const field = desc.fields.find((f) => f.jsonName === key || f.name === key);
    if (field === undefined || value === null) continue;
    const path = `${prefix}${field.name}`;
    const items: [string, unknown][] =
      field.fieldKind === "list"
        ? Array.isArray(value)
          ? value.map((v, i) => [`${path}[${i}]`, v])
          : []
        : field.fieldKind === "map"
          ? typeof value === "object" && !Array.isArray(value)
            ? Object.entries(value as object).map(([k, v]) => [`${path}[${JSON.stringify(k.slice(0, 64))}]`, v])
            : []
          : [[path, value]];
    const enumDesc = fieldEnum(field);
    const message = fieldMessage(field);
    for (const [itemPath, item] of items) {
      if (enumDesc !== undefined) checkEnumValue(enumDesc, item, itemPath);
      else if (message !== undefined) walk(message, item, `${itemPath}.`, depth + 1);
    }
  }
}

function checkEnumValue(desc: DescEnum, value: unknown, field: string): void {
  if (desc.typeName === "google.protobuf.NullValue" || value === null || Number.isInteger(value)) return;
  if (typeof value === "string" && desc.values.some((v) => v.name === value)) return;
  const names = desc.values.map((v) => v.name).join(", ");
  const given = typeof value === "string" ? JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value) : "that value";
  throw detailedError(`${field}: ${given} is not a value of ${desc.typeName} (one of ${names})`, Code.InvalidArgument, { field });
}

/**
 * gzip and brotli, with a body that fails to decompress (truncated, corrupt)
 * answered INVALID_ARGUMENT: connect-node answers INTERNAL for some of those
 * (a truncated gzip stream), though the fault is the client's. An output over
 * the RPC's limit stays RESOURCE_EXHAUSTED.
 */
export const REQUEST_COMPRESSIONS: Compression[] = [compressionGzip, compressionBrotli].map((c) => ({
  name: c.name,
  compress: (bytes) => c.compress(bytes),
  decompress: (bytes, readMaxBytes) =>
    c.decompress(bytes, readMaxBytes).catch((e: unknown) => {
      const err = ConnectError.from(e);
      if (err.code !== Code.Internal) throw err;
      throw new ConnectError(`the request is not valid ${c.name} data (corrupt or truncated)`, Code.InvalidArgument, undefined, undefined, e);
    }),
}));

const PARSE_BINARY = /^parse binary: /;

/**
 * connect-es reports a request that is not valid protobuf binary as INTERNAL
 * ("parse binary: …"); it is bad input: the same error as INVALID_ARGUMENT.
 * Anything else is returned as it is.
 */
export function asBadInput(err: ConnectError): ConnectError {
  if (err.code !== Code.Internal || !PARSE_BINARY.test(err.rawMessage)) return err;
  const fixed = new ConnectError(err.rawMessage, Code.InvalidArgument, err.metadata, undefined, err.cause);
  fixed.details = err.details;
  return fixed;
}

/** Whether a message (from any protocol's error field) is connect-es's "parse binary" INTERNAL. */
export function isParseBinaryMessage(message: string): boolean {
  return PARSE_BINARY.test(message);
}

/**
 * The request body of an enveloped protocol (gRPC, gRPC-Web, Connect
 * streaming) whose request declares no encoding, refusing an envelope flagged
 * compressed with INVALID_ARGUMENT: connect-es answers INTERNAL ("do not know
 * how to decompress"), though the fault is the client's. The gRPC status code
 * table lists INTERNAL for a message that cannot be decompressed; this service
 * answers every request it cannot decode INVALID_ARGUMENT instead, as it does
 * for bytes that are not protobuf (see notes in rpc-handler.ts). Only envelope
 * headers are looked at; payloads pass through untouched.
 */
export async function* refuseUndeclaredCompression(body: AsyncIterable<Uint8Array>, header: string): AsyncIterable<Uint8Array> {
  const head = new Uint8Array(5);
  let headSeen = 0;
  let payloadLeft = 0;
  for await (const chunk of body) {
    let at = 0;
    while (at < chunk.length) {
      if (payloadLeft > 0) {
        const n = Math.min(payloadLeft, chunk.length - at);
        payloadLeft -= n;
        at += n;
        continue;
      }
      head[headSeen++] = chunk[at++]!;
      if (headSeen === 1 && (head[0]! & 0x01) !== 0) {
        throw new ConnectError(`a message is flagged compressed, but the request has no ${header} header`, Code.InvalidArgument);
      }
      if (headSeen === 5) {
        payloadLeft = new DataView(head.buffer).getUint32(1);
        headSeen = 0;
      }
    }
    yield chunk;
  }
}
