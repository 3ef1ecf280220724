import { Agent, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { connect as http2Connect, constants as http2Constants, type ClientHttp2Session, type IncomingHttpHeaders as Http2Headers } from "node:http2";
import { gzipSync } from "node:zlib";
import {
  fromJson,
  ScalarType,
  toBinary,
  toJson,
  type DescEnum,
  type DescField,
  type DescMessage,
  type DescMethod,
  type JsonObject,
  type JsonValue,
  type Message,
} from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import type { Code } from "@connectrpc/connect";
import { codeFromString } from "@connectrpc/connect/protocol-connect";

// The pieces of test/fuzz-rpc.test.ts: a seeded PRNG, requests built from the
// descriptors (so a new RPC or field is fuzzed without editing the suite),
// malformed variants of them, and raw senders for each wire protocol that put
// exactly the bytes a case wants on the wire and read back the status.

/** A seeded PRNG (mulberry32): the same seed gives the same cases. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("pick from an empty list");
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }

  /** At most `n` of `items`, in their order. */
  sample<T>(items: readonly T[], n: number): T[] {
    if (items.length <= n) return [...items];
    const chosen = new Set<number>();
    while (chosen.size < n) chosen.add(this.int(items.length));
    return items.filter((_, i) => chosen.has(i));
  }
}

/** The wire protocols the suite speaks: Connect POST (JSON over HTTP/1.1, binary over HTTP/2), Connect GET, gRPC (HTTP/2), gRPC-Web (HTTP/1.1). */
export type Wire = "connect-json" | "connect-binary" | "connect-get" | "grpc" | "grpc-web";
export const WIRES: readonly Wire[] = ["connect-json", "connect-binary", "connect-get", "grpc", "grpc-web"];

/** Whether a method has no side effects (reads; the only ones Connect GET may call). */
export function isRead(method: DescMethod): boolean {
  return method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS;
}

/** The wires a method can be called over: Connect GET only for unary reads. */
export function wiresOf(method: DescMethod): Wire[] {
  return WIRES.filter((w) => w !== "connect-get" || (method.methodKind === "unary" && isRead(method)));
}

/** What the suite knows of the fixture, for filling requests with names that exist. */
export interface FillValues {
  /** Values by proto field name (`project`, `slug`, …); a field not named here gets a value by its type. */
  byName: Record<string, JsonValue>;
}

/**
 * A request of `schema` whose every field is set, from `values.byName` or by
 * type: a plausible, often valid request, so mutations of it reach past the
 * decoder into the handlers. Oneofs take their first member; message fields
 * recurse (two levels).
 */
export function fillRequest(schema: DescMessage, values: FillValues, depth = 0): Message {
  const json: JsonObject = {};
  const oneofsDone = new Set<string>();
  for (const field of schema.fields) {
    if (field.oneof) {
      if (oneofsDone.has(field.oneof.name)) continue;
      oneofsDone.add(field.oneof.name);
    }
    const value = fillValue(field, values, depth);
    if (value !== undefined) json[field.jsonName] = value;
  }
  return fromJson(schema, json);
}

function fillValue(field: DescField, values: FillValues, depth: number): JsonValue | undefined {
  const named = values.byName[field.name];
  if (named !== undefined) return named;
  switch (field.fieldKind) {
    case "scalar":
      return scalarSample(field.scalar);
    case "enum":
      return enumSample(field.enum);
    case "message":
      return messageSample(field.message, values, depth);
    case "list":
      if (field.listKind === "scalar") return [scalarSample(field.scalar)];
      if (field.listKind === "enum") return [enumSample(field.enum)];
      return depth < 2 ? [messageSample(field.message, values, depth) ?? {}] : [];
    case "map":
      return {};
  }
}

function scalarSample(scalar: ScalarType): JsonValue {
  switch (scalar) {
    case ScalarType.STRING:
      return "fuzz";
    case ScalarType.BYTES:
      return "ZnV6eg==";
    case ScalarType.BOOL:
      return false;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return 1.5;
    default:
      return 1;
  }
}

function enumSample(desc: DescEnum): JsonValue {
  return (desc.values.find((v) => v.number !== 0) ?? desc.values[0])?.name ?? 0;
}

function messageSample(desc: DescMessage, values: FillValues, depth: number): JsonValue | undefined {
  switch (desc.typeName) {
    case "google.protobuf.Struct":
      return { type: "object" };
    case "google.protobuf.Value":
      return "fuzz";
    case "google.protobuf.FieldMask":
      return "description";
    case "google.protobuf.Timestamp":
    case "google.protobuf.Duration":
    case "google.protobuf.Any":
      return undefined;
  }
  if (depth >= 2) return undefined;
  return toJson(desc, fillRequest(desc, values, depth + 1));
}

/** Strings a random request draws from, besides the fixture's own values: odd, hostile and long ones. */
const ODD_STRINGS: readonly string[] = [
  "",
  " ",
  "UPPER",
  "-leading-dash",
  "a b",
  "é🧨",
  "' OR '1'='1",
  "../../etc/passwd",
  "%00",
  "\\",
  "a".repeat(64),
  "a".repeat(4097),
  "tools:http:api:a",
  "tools:http:api:nope",
];

/**
 * A request of `schema` with random, well-typed values in random fields: the
 * fixture's values, odd strings, numbers at and past documented limits, enum
 * numbers that do not exist, short lists, small Structs. Decodes on every wire,
 * so it exercises the handlers' validation and queries in combinations the
 * one-field mutations do not reach.
 */
export function randomRequest(schema: DescMessage, values: FillValues, rng: Rng, depth = 0): Message {
  const json: JsonObject = {};
  const oneofsDone = new Set<string>();
  for (const field of schema.fields) {
    if (rng.next() < 0.3) continue;
    if (field.oneof) {
      if (oneofsDone.has(field.oneof.name)) continue;
      oneofsDone.add(field.oneof.name);
    }
    const value = randomValue(field, values, rng, depth);
    if (value !== undefined) json[field.jsonName] = value;
  }
  return fromJson(schema, json);
}

function randomValue(field: DescField, values: FillValues, rng: Rng, depth: number): JsonValue | undefined {
  const one = (): JsonValue | undefined => {
    const named = values.byName[field.name];
    if (named !== undefined && !Array.isArray(named) && rng.next() < 0.7) return named;
    switch (field.fieldKind) {
      case "scalar":
      case "list":
        if (field.fieldKind === "list" && field.listKind === "message")
          return depth < 2 ? toJson(field.message, randomRequest(field.message, values, rng, depth + 1)) : undefined;
        if (field.fieldKind === "list" && field.listKind === "enum") return rng.pick([...field.enum.values.map((v) => v.number), 999]);
        switch (field.scalar) {
          case ScalarType.STRING:
            return rng.pick(ODD_STRINGS);
          case ScalarType.BYTES:
            return "AAEC";
          case ScalarType.BOOL:
            return rng.next() < 0.5;
          case ScalarType.INT64:
          case ScalarType.SINT64:
          case ScalarType.SFIXED64:
            return rng.pick(["-1", "0", "1", "2", "3", "100", "9223372036854775807", "-9223372036854775808"]);
          case ScalarType.UINT64:
          case ScalarType.FIXED64:
            return rng.pick(["0", "1", "18446744073709551615"]);
          case ScalarType.DOUBLE:
          case ScalarType.FLOAT:
            return rng.pick([0, -1.5, 1e30]);
          default:
            return rng.pick([-1, 0, 1, 2, 49, 50, 500, 501, 2147483647, -2147483648]);
        }
      case "enum":
        return rng.pick([...field.enum.values.map((v) => v.number), 999]);
      case "message":
        switch (field.message.typeName) {
          case "google.protobuf.Struct":
            return rng.pick([
              {},
              { type: "object" },
              { type: "object", properties: { q: { type: "string" } } },
              { type: 5 },
              { a: [1, "x", null, true] },
            ]);
          case "google.protobuf.Value":
            return rng.pick([null, 1, "x", [], {}]);
          case "google.protobuf.FieldMask":
            // JSON spells the paths in lowerCamelCase (the server sees tool_urns, …).
            return rng.pick(["", "description", "name,description", "toolUrns", "mcpSlug,mcpEnabled,mcpIsPublic", "nope", "description,description"]);
          case "google.protobuf.Timestamp":
            return rng.pick(["1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]);
          default:
            return depth < 2 ? toJson(field.message, randomRequest(field.message, values, rng, depth + 1)) : undefined;
        }
      case "map":
        return {};
    }
  };
  if (field.fieldKind !== "list") return one();
  const named = values.byName[field.name];
  if (named !== undefined && rng.next() < 0.4) return named;
  const items: JsonValue[] = [];
  for (let i = rng.int(4); i > 0; i--) {
    const v = one();
    if (v !== undefined) items.push(v);
  }
  return items;
}

/** One request the suite sends, before it is put on a wire. */
export interface FuzzCase {
  /** What it is, for failure messages ("wrong type page_size=true"). */
  name: string;
  /** True when the request is bad input the server must refuse (INVALID_ARGUMENT or the protocol's code), never accept. */
  reject: boolean;
}

/** A JSON body (bytes, since some cases are not valid UTF-8). */
export interface JsonCase extends FuzzCase {
  json: Uint8Array;
}

/** A binary body: the serialized message. */
export interface BinaryCase extends FuzzCase {
  bytes: Uint8Array;
}

const utf8 = new TextEncoder();
const text = (s: string) => utf8.encode(s);

/** Values of the wrong JSON type for a field: each is refused by proto3 JSON. */
function wrongTypes(field: DescField): JsonValue[] {
  switch (field.fieldKind) {
    case "scalar":
      switch (field.scalar) {
        case ScalarType.STRING:
        case ScalarType.BYTES:
          return [42, true, {}, []];
        case ScalarType.BOOL:
          return ["yes", 2, {}];
        default:
          return [true, {}, [], "abc", 1.5];
      }
    case "enum":
      return [true, {}, 1.5, []];
    case "message":
      switch (field.message.typeName) {
        case "google.protobuf.Value":
          return []; // any JSON is a Value
        case "google.protobuf.FieldMask":
          return [5, {}, [], true];
        case "google.protobuf.Timestamp":
          return [5, {}, "not a time"];
        default:
          return ["x", 5, [], true];
      }
    case "list":
      return ["x", {}, 5, field.listKind === "message" ? ["x"] : [{}]];
    case "map":
      return ["x", [], 5];
  }
}

/** Boundary values for a field (accepted or refused; never INTERNAL); `reject` marks the ones that must be refused. */
function boundaries(field: DescField): { value: JsonValue; reject: boolean; label: string }[] {
  const v = (value: JsonValue, label: string, reject = false) => ({ value, reject, label });
  const negativeIsInvalid = /^page_size$/.test(field.name);
  switch (field.fieldKind) {
    case "scalar":
      switch (field.scalar) {
        case ScalarType.STRING:
          return [
            v("", "empty"),
            // Under and over the 64 KiB request limit of the RPCs with small requests.
            v("x".repeat(60_000), "60,000 characters"),
            v("x".repeat(70_000), "70,000 characters"),
            v("a\u0000b", "NUL"),
            v("a\ud800b", "lone surrogate"),
            v("🧨".repeat(100), "emoji"),
          ];
        case ScalarType.BOOL:
          return [v(true, "true")];
        case ScalarType.INT32:
        case ScalarType.SINT32:
        case ScalarType.SFIXED32:
          return [
            v(2147483647, "INT32_MAX"),
            v(-2147483648, "INT32_MIN", negativeIsInvalid),
            v(-1, "-1", negativeIsInvalid),
            v(0, "0"),
            v(2147483648, "INT32_MAX+1", true),
            v(-2147483649, "INT32_MIN-1", true),
          ];
        case ScalarType.INT64:
        case ScalarType.SINT64:
        case ScalarType.SFIXED64:
          return [
            v("9223372036854775807", "INT64_MAX"),
            v("-9223372036854775808", "INT64_MIN"),
            v(-1, "-1"),
            v(0, "0"),
            v("9223372036854775808", "INT64_MAX+1", true),
          ];
        case ScalarType.UINT32:
        case ScalarType.FIXED32:
          return [v(4294967295, "UINT32_MAX"), v(-1, "-1", true)];
        case ScalarType.UINT64:
        case ScalarType.FIXED64:
          return [v("18446744073709551615", "UINT64_MAX"), v(-1, "-1", true)];
        default:
          return [v("NaN", "NaN"), v("Infinity", "Infinity"), v(1e308, "1e308")];
      }
    case "enum":
      return [v(0, "0"), v(999, "unknown number"), v(-1, "-1")];
    case "list":
      if (field.listKind === "scalar" && field.scalar === ScalarType.STRING) {
        return [
          v([], "empty list"),
          v(
            Array.from({ length: 10_000 }, (_, i) => `x${i}`),
            "10,000 items",
          ),
          v(["", ""], "empty items"),
        ];
      }
      return [v([], "empty list")];
    case "message":
      if (field.message.typeName === "google.protobuf.Struct") {
        return [v({}, "empty"), v(deepObject(99), "99 deep"), v(deepObject(5_000), "5,000 deep"), v(wideObject(10_000), "10,000 keys")];
      }
      if (field.message.typeName === "google.protobuf.FieldMask") {
        return [v("", "empty"), v("a,b,c".repeat(1000), "3,000 paths"), v("x".repeat(70_000), "a path of 70,000 characters")];
      }
      return [v({}, "empty")];
    case "map":
      return [v({}, "empty")];
  }
}

/**
 * A value nested `depth` levels (`{"a":[{"a":[…"leaf"…]}]}`), as a placeholder
 * that `renderJson` replaces by its text: JSON.stringify itself would overflow
 * the test's stack on the deep ones.
 */
function deepObject(depth: number): JsonValue {
  return `\u0001deep ${depth}\u0001`;
}

function deepText(depth: number): string {
  const open: string[] = [];
  for (let i = 0; i < depth; i++) open.push(i % 2 === 0 ? '{"a":' : "[");
  return `${open.join("")}"leaf"${open
    .reverse()
    .map((o) => (o === "[" ? "]" : "}"))
    .join("")}`;
}

/** JSON text of `value`, deep placeholders expanded. */
function renderJson(value: JsonValue): string {
  return JSON.stringify(value).replace(/"\\u0001deep (\d+)\\u0001"/g, (_, n: string) => deepText(Number(n)));
}

function wideObject(keys: number): JsonValue {
  const o: JsonObject = {};
  for (let i = 0; i < keys; i++) o[`k${i}`] = i;
  return o;
}

/** Names an enum does not have: a typo of a real one, its lower case, another enum's. */
function badEnumNames(desc: DescEnum): string[] {
  const real = desc.values.find((v) => v.number !== 0)?.name ?? desc.values[0]?.name ?? "X";
  return [`${real.slice(0, -2)}${real.slice(-1)}`, real.toLowerCase(), "NOT_A_VALUE"];
}

/** Bytes that are not UTF-8: a stray continuation byte, an overlong slash, an encoded surrogate, a truncated sequence. */
const INVALID_UTF8: readonly { label: string; bytes: number[] }[] = [
  { label: "0xff", bytes: [0xff] },
  { label: "overlong", bytes: [0xc0, 0xaf] },
  { label: "surrogate", bytes: [0xed, 0xa0, 0x80] },
  { label: "truncated", bytes: [0xe2, 0x82] },
];

/** Replaces `placeholder` in `jsonText` by the letters a and b around raw `bytes`. */
function withRawBytes(jsonText: string, placeholder: string, bytes: number[]): Uint8Array {
  const [before, after] = jsonText.split(placeholder) as [string, string];
  return Buffer.concat([text(before), Uint8Array.from([0x61, ...bytes, 0x62]), text(after)]);
}

/** Every field of `schema` with its JSON path, top level and one level down into message fields. */
function fieldPaths(schema: DescMessage): { path: string[]; field: DescField }[] {
  const out: { path: string[]; field: DescField }[] = [];
  for (const f of schema.fields) {
    out.push({ path: [f.jsonName], field: f });
    if (f.fieldKind === "message" && !f.message.typeName.startsWith("google.")) {
      for (const g of f.message.fields) out.push({ path: [f.jsonName, g.jsonName], field: g });
    }
  }
  return out;
}

/** A copy of `base` with the value at `path` replaced. */
function setPath(base: JsonObject, path: string[], value: JsonValue): JsonObject {
  const [head, ...rest] = path as [string, ...string[]];
  if (rest.length === 0) return { ...base, [head]: value };
  const inner = base[head];
  return { ...base, [head]: setPath(inner !== null && typeof inner === "object" && !Array.isArray(inner) ? inner : {}, rest, value) };
}

/**
 * The JSON cases of a request: malformed JSON, wrong types, unknown fields and
 * enum names, invalid UTF-8, boundary values, deep nesting, truncations and
 * byte flips of the valid body. `perKind` bounds the cases of each kind drawn.
 */
export function jsonCases(schema: DescMessage, base: Message, rng: Rng, perKind = 6): JsonCase[] {
  const baseJson = toJson(schema, base) as JsonObject;
  const baseText = JSON.stringify(baseJson);
  const c = (name: string, json: JsonValue | Uint8Array, reject: boolean): JsonCase => ({
    name,
    reject,
    json: json instanceof Uint8Array ? json : text(renderJson(json)),
  });
  const paths = fieldPaths(schema);
  const cases: JsonCase[] = [c("valid", baseJson, false)];

  const malformed = ["", "{", "}", "[]", '"str"', "42", "true", '{"a":}', "{}}", "{} x", "{'project':'x'}", '{"project":"x",}', '{"pageSize": NaN}'];
  cases.push(...rng.sample(malformed, perKind).map((m) => c(`malformed ${JSON.stringify(m)}`, text(m), true)));
  for (let i = 0; i < 2 && baseText.length > 1; i++) {
    const at = 1 + rng.int(baseText.length - 1);
    cases.push(c(`truncated at ${at}`, text(baseText.slice(0, at)), true));
  }
  for (let i = 0; i < 2; i++) {
    const bytes = text(baseText);
    const at = rng.int(bytes.length);
    bytes[at] = rng.int(256);
    cases.push(c(`byte ${at} flipped`, bytes, false));
  }
  cases.push(c("null", text("null"), false), c("byte order mark", text(`\ufeff${baseText}`), false));

  const wrong = paths.flatMap(({ path, field }) => wrongTypes(field).map((w) => ({ path, w })));
  cases.push(
    ...rng.sample(wrong, perKind * 2).map(({ path, w }) => c(`wrong type ${path.join(".")}=${JSON.stringify(w)}`, setPath(baseJson, path, w), true)),
  );

  cases.push(c("unknown field", { ...baseJson, fuzzUnknown: 1 }, true), c("unknown field @type", { ...baseJson, "@type": "x" }, true));
  for (const { path } of paths.filter((p) => p.field.fieldKind === "message" && !p.field.message.typeName.startsWith("google."))) {
    cases.push(c(`unknown field in ${path.join(".")}`, setPath(baseJson, [...path, "fuzzUnknown"], true), true));
  }
  cases.push(c("unknown field 1,000 deep", { ...baseJson, fuzzUnknown: deepObject(1_000) }, true));

  for (const { path, field } of paths) {
    const desc = field.fieldKind === "enum" ? field.enum : field.fieldKind === "list" && field.listKind === "enum" ? field.enum : undefined;
    if (!desc) continue;
    for (const name of badEnumNames(desc)) {
      cases.push(c(`unknown enum name ${path.join(".")}=${name}`, setPath(baseJson, path, field.fieldKind === "list" ? [name] : name), true));
    }
  }

  const strings = paths.filter((p) => p.field.fieldKind === "scalar" && p.field.scalar === ScalarType.STRING);
  for (const bad of INVALID_UTF8) {
    if (strings.length === 0) break;
    const { path } = rng.pick(strings);
    const placeholder = "FUZZ_PLACEHOLDER";
    cases.push(
      c(
        `invalid UTF-8 (${bad.label}) in ${path.join(".")}`,
        withRawBytes(JSON.stringify(setPath(baseJson, path, placeholder)), placeholder, bad.bytes),
        true,
      ),
    );
  }

  const bounds = paths.flatMap(({ path, field }) => boundaries(field).map((b) => ({ path, b })));
  // A sample of the values that must be refused, and of the rest.
  const long = (label: string) => /characters/.test(label);
  const mustRefuse = rng.sample(
    bounds.filter(({ b }) => b.reject),
    perKind * 2,
  );
  // Every long value: an error message must not echo one back.
  const longOnes = bounds.filter(({ b }) => !b.reject && long(b.label));
  const others = rng.sample(
    bounds.filter(({ b }) => !b.reject && !long(b.label)),
    perKind * 3,
  );
  for (const { path, b } of [...mustRefuse, ...longOnes, ...others])
    cases.push(c(`boundary ${path.join(".")}=${b.label}`, setPath(baseJson, path, b.value), b.reject));
  return cases;
}

/** A varint's bytes. */
function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

function tag(fieldNo: number, wireType: WireType): number[] {
  return varint(fieldNo * 8 + wireType);
}

/** `depth` nested Value{list_value: ListValue{values: [ … ]}}, built inside out in linear time. */
function deepStructValue(depth: number): Uint8Array {
  // Sizes from the inside out: level k wraps level k-1 in one tag byte and a length.
  const sizes: number[] = [0];
  for (let k = 1; k <= depth; k++) sizes.push(1 + varint(sizes[k - 1]!).length + sizes[k - 1]!);
  const out: number[] = [];
  for (let k = depth; k >= 1; k--) {
    // Odd levels are Values (list_value = 6), even ones ListValues (values = 1).
    out.push(...tag(k % 2 === 1 ? 6 : 1, WireType.LengthDelimited), ...varint(sizes[k - 1]!));
  }
  return Uint8Array.from(out);
}

/**
 * The binary cases of a request: the valid encoding, random bytes, mutations
 * of the valid encoding, hand-made invalid encodings (overlong varint, length
 * past the end, wire types 6 and 7, field 0, stray end group), invalid UTF-8
 * in string fields, boundary integers, long strings and lists, deep nesting.
 */
export function binaryCases(schema: DescMessage, base: Message, rng: Rng, perKind = 6): BinaryCase[] {
  const valid = toBinary(schema, base);
  const c = (name: string, bytes: Uint8Array | number[], reject: boolean): BinaryCase => ({
    name,
    reject,
    bytes: bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes),
  });
  const plus = (...extra: number[][]) => Buffer.concat([valid, Uint8Array.from(extra.flat())]);
  const cases: BinaryCase[] = [c("valid", valid, false), c("empty", [], false)];

  for (let i = 0; i < perKind; i++) {
    const n = 1 + rng.int(64);
    cases.push(c(`random ${n} bytes`, rng.bytes(n), false));
  }
  for (let i = 0; i < perKind * 2; i++) {
    const bytes = Uint8Array.from(valid);
    const kind = rng.int(5);
    const at = rng.int(Math.max(1, bytes.length));
    if (bytes.length === 0) {
      cases.push(c("random byte", rng.bytes(1), false));
    } else if (kind === 0) {
      bytes[at] = bytes[at]! ^ (1 << rng.int(8));
      cases.push(c(`bit flipped at ${at}`, bytes, false));
    } else if (kind === 1) {
      cases.push(c(`truncated at ${at}`, bytes.subarray(0, at), false));
    } else if (kind === 2) {
      cases.push(c(`byte inserted at ${at}`, Buffer.concat([bytes.subarray(0, at), rng.bytes(1), bytes.subarray(at)]), false));
    } else if (kind === 3) {
      cases.push(c(`byte deleted at ${at}`, Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]), false));
    } else {
      cases.push(c(`random bytes spliced at ${at}`, Buffer.concat([bytes.subarray(0, at), rng.bytes(1 + rng.int(8))]), false));
    }
  }

  cases.push(
    // protobuf-es reads an 11-byte varint without complaint; no code but INTERNAL is wrong for it.
    c("overlong varint", plus(tag(1000, WireType.Varint), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), false),
    c("length past the end", plus(tag(1000, WireType.LengthDelimited), varint(100), [1, 2, 3]), true),
    c("wire type 6", plus([(1 << 3) | 6]), true),
    c("wire type 7", plus([(1 << 3) | 7]), true),
    c("field number 0", plus([0x00, 0x01]), true),
    c("end group without start", plus(tag(1000, WireType.EndGroup)), true),
    c("group never ended", plus(tag(1000, WireType.StartGroup)), true),
    c("unknown fields", plus(tag(1000, WireType.Varint), [1], tag(1001, WireType.LengthDelimited), [2, 0x61, 0x62]), false),
  );
  const groupDepth = 50_000;
  cases.push(
    c(
      `unknown groups ${groupDepth} deep`,
      Buffer.concat([
        valid,
        Uint8Array.from(Array.from({ length: groupDepth }, () => tag(1000, WireType.StartGroup)).flat()),
        Uint8Array.from(Array.from({ length: groupDepth }, () => tag(1000, WireType.EndGroup)).flat()),
      ]),
      false,
    ),
  );

  // Per-field cases: many for a wide message, so a sample of them (all kinds of field get their turn across seeds).
  const perField: BinaryCase[] = [];
  for (const f of schema.fields) {
    const invalid = Uint8Array.from([0x61, 0xff, 0x62]);
    if ((f.fieldKind === "scalar" || f.fieldKind === "list") && f.scalar === ScalarType.STRING) {
      perField.push(c(`invalid UTF-8 in ${f.name}`, plus(tag(f.number, WireType.LengthDelimited), varint(invalid.length), [...invalid]), true));
    }
    if (f.fieldKind === "message" && !f.message.typeName.startsWith("google.")) {
      const inner = f.message.fields.find((g) => g.fieldKind === "scalar" && g.scalar === ScalarType.STRING);
      if (inner) {
        const sub = [...tag(inner.number, WireType.LengthDelimited), ...varint(invalid.length), ...invalid];
        perField.push(c(`invalid UTF-8 in ${f.name}.${inner.name}`, plus(tag(f.number, WireType.LengthDelimited), varint(sub.length), sub), true));
      }
    }
    const enc = (write: (w: BinaryWriter) => void) => {
      const writer = new BinaryWriter();
      write(writer);
      return Buffer.concat([valid, writer.finish()]);
    };
    if (f.fieldKind === "scalar" && (f.scalar === ScalarType.INT32 || f.scalar === ScalarType.INT64)) {
      perField.push(
        c(
          `${f.name} = -1`,
          enc((x) => x.tag(f.number, WireType.Varint).int64(-1n)),
          false,
        ),
        c(
          `${f.name} = INT64_MAX`,
          enc((x) => x.tag(f.number, WireType.Varint).int64(9223372036854775807n)),
          false,
        ),
        c(
          `${f.name} = INT64_MIN`,
          enc((x) => x.tag(f.number, WireType.Varint).int64(-9223372036854775808n)),
          false,
        ),
        c(
          `${f.name} = 2^32`,
          enc((x) => x.tag(f.number, WireType.Varint).uint64(4294967296n)),
          false,
        ),
      );
    }
    if (f.fieldKind === "enum") {
      perField.push(
        c(
          `${f.name} = 999`,
          enc((x) => x.tag(f.number, WireType.Varint).int32(999)),
          false,
        ),
      );
    }
    if (f.fieldKind === "scalar" && f.scalar === ScalarType.STRING) {
      perField.push(
        c(
          `${f.name} 60,000 characters`,
          enc((x) => x.tag(f.number, WireType.LengthDelimited).string("x".repeat(60_000))),
          false,
        ),
        c(
          `${f.name} 70,000 characters`,
          enc((x) => x.tag(f.number, WireType.LengthDelimited).string("x".repeat(70_000))),
          false,
        ),
        c(
          `${f.name} NUL`,
          enc((x) => x.tag(f.number, WireType.LengthDelimited).string("a\u0000b")),
          false,
        ),
      );
    }
    if (f.fieldKind === "list" && f.scalar === ScalarType.STRING) {
      perField.push(
        c(
          `${f.name} 10,000 items`,
          enc((x) => {
            for (let i = 0; i < 10_000; i++) x.tag(f.number, WireType.LengthDelimited).string(`x${i}`);
          }),
          false,
        ),
      );
    }
    if (f.fieldKind === "scalar" && f.scalar === ScalarType.STRING) {
      perField.push(c(`${f.name} as a varint`, plus(tag(f.number, WireType.Varint), [5]), false));
    }
    if (f.fieldKind === "message" && f.message.typeName === "google.protobuf.Struct") {
      for (const depth of [99, 5_000]) {
        const value = deepStructValue(depth);
        // Struct{fields: {"a": Value}}: a map entry (key = 1, value = 2).
        const entry = [...tag(1, WireType.LengthDelimited), 1, 0x61, ...tag(2, WireType.LengthDelimited), ...varint(value.length)];
        const struct = Buffer.concat([
          Uint8Array.from([...tag(1, WireType.LengthDelimited), ...varint(entry.length + value.length)]),
          Uint8Array.from(entry),
          value,
        ]);
        cases.push(
          c(
            `${f.name} ${depth} deep`,
            Buffer.concat([valid, Uint8Array.from([...tag(f.number, WireType.LengthDelimited), ...varint(struct.length)]), struct]),
            false,
          ),
        );
      }
    }
  }
  cases.push(
    ...rng.sample(
      perField.filter((x) => x.reject),
      perKind * 2,
    ),
    ...rng.sample(
      perField.filter((x) => !x.reject),
      perKind * 3,
    ),
  );
  return cases;
}

/** A message in an envelope: flags, a big-endian length, the payload. */
export function envelope(flags: number, payload: Uint8Array, length = payload.length): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, length >>> 0);
  out.set(payload, 5);
  return out;
}

/** An enveloped body as sent, with the headers that go with it (a compression, for instance). */
export interface FramedCase extends FuzzCase {
  body: Uint8Array;
  headers?: Record<string, string>;
}

/**
 * The framing cases of enveloped protocols (gRPC, gRPC-Web, Connect
 * streaming) around a valid message: lengths longer and shorter than the
 * payload, a compressed flag with no encoding, truncated and bogus gzip, an
 * unknown encoding, trailing garbage, two messages for a unary call, no message,
 * reserved flags, a length of 4 GiB.
 */
export function framingCases(valid: Uint8Array, protocol: "grpc" | "connect", unary: boolean): FramedCase[] {
  const encodingHeader = protocol === "grpc" ? "grpc-encoding" : "connect-content-encoding";
  const gz = gzipSync(valid.length > 0 ? valid : Uint8Array.from([0]));
  const c = (name: string, body: Uint8Array, reject: boolean, headers?: Record<string, string>): FramedCase => ({
    name,
    body,
    reject,
    ...(headers && { headers }),
  });
  const cases = [
    c("length longer than the body", envelope(0, valid, valid.length + 10), true),
    c("length shorter than the body", envelope(0, Buffer.concat([valid, Uint8Array.from([1, 2, 3, 4, 5, 6, 7])]), valid.length), true),
    c("compressed flag without an encoding", envelope(1, valid), true),
    c("truncated gzip", envelope(1, gz.subarray(0, Math.max(1, gz.length >> 1))), true, { [encodingHeader]: "gzip" }),
    c("not gzip at all", envelope(1, Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])), true, { [encodingHeader]: "gzip" }),
    c("gzip of a valid message", envelope(1, gz), false, { [encodingHeader]: "gzip" }),
    c("unknown encoding", envelope(1, valid), true, { [encodingHeader]: "snappy" }),
    c("trailing garbage", Buffer.concat([envelope(0, valid), Uint8Array.from([0xde, 0xad])]), true),
    c("a length of 4 GiB", envelope(0, valid, 0xffffffff), true),
    c("reserved flag 0x04", envelope(0x04, valid), false),
    c("end-stream flag on the request", envelope(0x02, valid), false),
    c("trailer flag on the request", envelope(0x80, valid), false),
  ];
  if (unary) {
    cases.push(
      c("two messages for a unary call", Buffer.concat([envelope(0, valid), envelope(0, valid)]), true),
      c("no message", new Uint8Array(0), true),
    );
  }
  return cases;
}

/** How a call ended, as read off the wire. */
export interface WireAnswer {
  /** The status code, "ok", or undefined when the wire carried none (see `problem`). */
  code: Code | "ok" | undefined;
  /** The HTTP status of the response. */
  httpStatus: number;
  message: string;
  /** Set when there was no proper answer: no status, no answer in time, a reset stream. */
  problem?: string;
  /** A Connect request refused by the HTTP layer with a 4xx and no error body (415 for an unknown encoding, 431 for a URL too long). */
  httpRefusal?: boolean;
}

/** One request as it goes on the wire. */
export interface WireRequest {
  wire: Wire;
  method: DescMethod;
  /** The body: for Connect unary the message itself, for the enveloped protocols the whole framed body. Unused by Connect GET. */
  body: Uint8Array;
  /** Connect GET's query string, without "?". */
  query?: string;
  headers?: Record<string, string>;
}

/** Headers of a raw response, HTTP/1.1 or HTTP/2. */
type RawHeaders = IncomingHttpHeaders | Http2Headers;

interface RawResponse {
  status: number;
  headers: RawHeaders;
  body: Uint8Array;
  trailers: RawHeaders;
  /** The response was cut short on purpose: a streaming call delivered its first message and was cancelled. */
  open: boolean;
}

/** The content type of each wire for unary and streaming methods. */
export function contentTypeOf(wire: Wire, streaming: boolean): string {
  switch (wire) {
    case "connect-json":
      return streaming ? "application/connect+json" : "application/json";
    case "connect-binary":
      return streaming ? "application/connect+proto" : "application/proto";
    case "grpc":
      return "application/grpc";
    case "grpc-web":
      return "application/grpc-web+proto";
    case "connect-get":
      return "";
  }
}

/** Whether a wire carries `method`'s request in envelopes. */
export function isEnveloped(wire: Wire, method: DescMethod): boolean {
  return wire === "grpc" || wire === "grpc-web" || ((wire === "connect-json" || wire === "connect-binary") && method.methodKind !== "unary");
}

/**
 * Sends raw requests to one server: HTTP/1.1 (Connect JSON, Connect GET,
 * gRPC-Web) over a keep-alive agent, HTTP/2 (Connect binary, gRPC) over one
 * session, opened again when the server closes it. A streaming call counts as
 * answered once its first message arrives (it is then cancelled).
 */
export class WireClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 8 });
  private session: ClientHttp2Session | undefined;

  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 10_000,
  ) {}

  async send(req: WireRequest): Promise<WireAnswer> {
    const streaming = req.method.methodKind !== "unary";
    const path = `/${req.method.parent.typeName}/${req.method.name}`;
    const headers: Record<string, string> = { ...req.headers };
    if (req.wire === "grpc" || req.wire === "grpc-web") headers["te"] ??= "trailers";
    if (req.wire.startsWith("connect")) headers["connect-protocol-version"] ??= "1";
    if (req.wire !== "connect-get") headers["content-type"] ??= contentTypeOf(req.wire, streaming);
    let raw: RawResponse;
    try {
      raw =
        req.wire === "connect-binary" || req.wire === "grpc"
          ? await this.http2(path, headers, req.body, streaming ? req.wire : undefined)
          : await this.http1(
              req.wire === "connect-get" ? "GET" : "POST",
              req.wire === "connect-get" ? `${path}?${req.query ?? ""}` : path,
              headers,
              req.wire === "connect-get" ? undefined : req.body,
              streaming ? req.wire : undefined,
            );
    } catch (e) {
      return { code: undefined, httpStatus: 0, message: "", problem: e instanceof Error ? e.message : String(e) };
    }
    return readAnswer(req.wire, streaming, raw);
  }

  /** Closes every connection at once (a call still in flight fails). */
  close(): void {
    this.agent.destroy();
    this.session?.destroy();
    this.session = undefined;
  }

  private h2Session(): ClientHttp2Session {
    if (!this.session || this.session.closed || this.session.destroyed) {
      const s = http2Connect(this.baseUrl);
      s.on("error", () => undefined);
      s.on("goaway", () => {
        if (this.session === s) this.session = undefined;
      });
      this.session = s;
    }
    return this.session;
  }

  private async http2(path: string, headers: Record<string, string>, body: Uint8Array, streamingWire: Wire | undefined): Promise<RawResponse> {
    if (!streamingWire) return this.http2On(this.h2Session(), path, headers, body, undefined);
    // A streaming call gets a session of its own, closed once the first message is in: cancelling
    // hundreds of streams on one session is a rapid reset, which the server rightly answers with GOAWAY.
    const session = http2Connect(this.baseUrl);
    session.on("error", () => undefined);
    try {
      return await this.http2On(session, path, headers, body, streamingWire);
    } finally {
      session.destroy();
    }
  }

  private http2On(
    session: ClientHttp2Session,
    path: string,
    headers: Record<string, string>,
    body: Uint8Array,
    streamingWire: Wire | undefined,
  ): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      const req = session.request({ ":method": "POST", ":path": path, ...headers });
      const chunks: Buffer[] = [];
      let status = 0;
      let resHeaders: Http2Headers = {};
      let trailers: Http2Headers = {};
      const timer = setTimeout(() => {
        req.close(http2Constants.NGHTTP2_CANCEL);
        reject(new Error(`no answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      const done = (open: boolean) => {
        clearTimeout(timer);
        resolve({ status, headers: resHeaders, body: Buffer.concat(chunks), trailers, open });
      };
      req.on("response", (h) => {
        resHeaders = h;
        status = Number(h[":status"] ?? 0);
      });
      req.on("trailers", (t) => (trailers = t));
      req.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        if (streamingWire && hasMessage(Buffer.concat(chunks), streamingWire)) done(true);
      });
      req.on("end", () => done(false));
      req.on("error", (e) => {
        clearTimeout(timer);
        reject(new Error(`stream error: ${e.message}`));
      });
      req.on("close", () => {
        if (req.rstCode !== undefined && req.rstCode !== http2Constants.NGHTTP2_NO_ERROR && req.rstCode !== http2Constants.NGHTTP2_CANCEL) {
          clearTimeout(timer);
          reject(new Error(`stream reset by the server (code ${req.rstCode})`));
        }
        done(false);
      });
      req.end(body);
    });
  }

  private http1(
    method: "GET" | "POST",
    path: string,
    headers: Record<string, string>,
    body: Uint8Array | undefined,
    streamingWire: Wire | undefined,
  ): Promise<RawResponse> {
    const url = new URL(path, this.baseUrl);
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        url,
        { method, agent: this.agent, headers: body === undefined ? headers : { ...headers, "content-length": String(body.length) } },
        (res) => {
          const chunks: Buffer[] = [];
          let settled = false;
          const done = (open: boolean) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), trailers: res.trailers, open });
          };
          res.on("data", (chunk: Buffer) => {
            chunks.push(chunk);
            if (streamingWire && hasMessage(Buffer.concat(chunks), streamingWire)) {
              done(true);
              req.destroy();
            }
          });
          res.on("end", () => done(false));
          res.on("error", (e) => {
            if (!settled) reject(e);
          });
        },
      );
      const timer = setTimeout(() => {
        req.destroy();
        reject(new Error(`no answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      req.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      req.end(body);
    });
  }
}

/** Whether `body` holds a complete data envelope (a streamed message, not the end of the stream). */
function hasMessage(body: Uint8Array, wire: Wire): boolean {
  const endFlag = wire === "grpc-web" ? 0x80 : wire === "grpc" ? 0 : 0x02;
  for (const { flags } of envelopes(body)) if (endFlag === 0 || (flags & endFlag) === 0) return true;
  return false;
}

function* envelopes(body: Uint8Array): Generator<{ flags: number; payload: Uint8Array }> {
  let at = 0;
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  while (at + 5 <= body.length) {
    const length = view.getUint32(at + 1);
    if (at + 5 + length > body.length) return;
    yield { flags: body[at]!, payload: body.subarray(at + 5, at + 5 + length) };
    at += 5 + length;
  }
}

const decoder = new TextDecoder();

function header(h: RawHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v === undefined ? undefined : String(v);
}

function connectError(bytes: Uint8Array): { code: Code | undefined; message: string } | undefined {
  try {
    const parsed = JSON.parse(decoder.decode(bytes)) as { code?: unknown; message?: unknown };
    if (typeof parsed.code !== "string") return undefined;
    return { code: codeFromString(parsed.code), message: typeof parsed.message === "string" ? parsed.message : "" };
  } catch {
    return undefined;
  }
}

function grpcCode(value: string | undefined): Code | "ok" | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  const n = Number(value);
  return n === 0 ? "ok" : (n as Code);
}

function readAnswer(wire: Wire, streaming: boolean, raw: RawResponse): WireAnswer {
  const base = { httpStatus: raw.status };
  const noStatus = (what: string): WireAnswer => ({ ...base, code: undefined, message: "", problem: `${what} (HTTP ${raw.status})` });
  if (raw.open) return { ...base, code: "ok", message: "stream open" };
  switch (wire) {
    case "connect-json":
    case "connect-binary":
    case "connect-get": {
      if (streaming && raw.status === 200) {
        for (const { flags, payload } of envelopes(raw.body)) {
          if ((flags & 0x02) === 0) continue;
          const end = JSON.parse(decoder.decode(payload)) as { error?: { code?: string; message?: string } };
          if (!end.error) return { ...base, code: "ok", message: "" };
          return { ...base, code: codeFromString(end.error.code ?? "") ?? undefined, message: end.error.message ?? "" };
        }
        return noStatus("a Connect stream without an end-stream message");
      }
      if (raw.status === 200) return { ...base, code: "ok", message: "" };
      const err = connectError(raw.body);
      if (err) return { ...base, code: err.code, message: err.message };
      if (raw.status >= 400 && raw.status < 500) return { ...base, code: undefined, message: "", httpRefusal: true };
      return noStatus("a Connect error without a JSON body");
    }
    case "grpc": {
      const code = grpcCode(header(raw.trailers, "grpc-status") ?? header(raw.headers, "grpc-status"));
      const message = decodeURIComponent(header(raw.trailers, "grpc-message") ?? header(raw.headers, "grpc-message") ?? "");
      return code === undefined ? noStatus("a gRPC response without grpc-status") : { ...base, code, message };
    }
    case "grpc-web": {
      let status = header(raw.headers, "grpc-status");
      let message = header(raw.headers, "grpc-message") ?? "";
      for (const { flags, payload } of envelopes(raw.body)) {
        if ((flags & 0x80) === 0) continue;
        const trailer = decoder.decode(payload);
        status = /grpc-status:\s*(\d+)/i.exec(trailer)?.[1] ?? status;
        message = /grpc-message:\s*([^\r\n]*)/i.exec(trailer)?.[1] ?? message;
      }
      const code = grpcCode(status);
      return code === undefined ? noStatus("a gRPC-Web response without grpc-status") : { ...base, code, message: decodeURIComponent(message) };
    }
  }
}

/** Base64url without padding, as Connect GET's `message` parameter carries binary. */
export function base64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64url");
}
