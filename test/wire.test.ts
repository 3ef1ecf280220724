import { create, equals, fromBinary, fromJson, toBinary, toJson, type JsonObject } from "@bufbuild/protobuf";
import { StructSchema } from "@bufbuild/protobuf/wkt";
import { base64Encode, BinaryWriter } from "@bufbuild/protobuf/wire";
import { createClient, type HandlerContext, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  ReleaseService,
  ResolvedToolsetSchema,
  ResolveToolsetResponseSchema,
  WatchToolsetResponseSchema,
  type ResolvedToolset,
  type WatchToolsetResponse,
} from "../gen/releases/v1/releases_pb.js";
import { EditingMode } from "../gen/toolsets/v1/toolsets_pb.js";
import { silentLogger } from "../server/platform/logging.js";
import { createRpcHandler } from "../server/platform/rpc-handler.js";
import { createDualServer, type DualServer } from "../server/platform/server.js";
import { rawGrpcStatus } from "../server/testing/server.js";
import { encodeResolved } from "../server/releases/served-resolve.js";
import { encodeStruct, wantsBinary, withEncodedField } from "../server/platform/wire.js";

/** A JSON Schema as MCP tools carry it: nested objects, arrays, numbers, booleans, null, non-ASCII text. */
function inputSchema(i: number) {
  return {
    type: "object",
    description: `Arguments of operation ${i} — café ✓ 😀`,
    properties: {
      id: { type: "integer", minimum: 0, maximum: 1_000_000 + i },
      ratio: { type: "number", default: 0.25 * i },
      verbose: { type: "boolean", default: i % 2 === 0 },
      nothing: null,
      filter: {
        type: "object",
        properties: {
          tags: { type: "array", items: { type: "string", enum: ["a", "b", `t${i}`] }, maxItems: 10 },
          range: { type: "object", properties: { from: { type: "string", format: "date-time" }, to: { type: "string" } }, required: ["from"] },
        },
        additionalProperties: false,
      },
    },
    required: ["id"],
  };
}

function resolvedToolset(tools: number, etag: string): ResolvedToolset {
  return create(ResolvedToolsetSchema, {
    toolsetId: "0b9a7c2e-5d1f-4a8e-9c3b-2f6d8e1a4b7c",
    slug: "petstore",
    name: "Pet store",
    description: "Every operation of the pet store, résumé included",
    mcpSlug: "acme-petstore",
    editingMode: EditingMode.ITERATION,
    releaseNumber: 42n,
    etag,
    mcpEnabled: true,
    mcpIsPublic: true,
    tools: Array.from({ length: tools }, (_, i) => ({
      urn: `tools:http:petstore:op_${i}`,
      name: `op_${i}`,
      title: `Operation ${i}`,
      description: `Does thing ${i}. `.repeat(4),
      inputSchema: inputSchema(i),
      tags: ["pets", `group-${i % 5}`],
      annotations: { readOnlyHint: i % 2 === 0, destructiveHint: i % 7 === 0, ...(i % 3 === 0 ? { openWorldHint: true } : {}) },
      confirm: i % 4 === 0,
      confirmPrompt: i % 4 === 0 ? `Really run op_${i}?` : "",
      summarizer: i % 6 === 0 ? "short" : "",
      httpMethod: i % 2 === 0 ? "GET" : "POST",
      path: `/pets/{id}/op/${i}`,
      serverUrl: "https://petstore.example.com/v2",
      variationIds: i % 3 === 0 ? [`5f0c1d2e-0000-4000-8000-${String(i).padStart(12, "0")}`] : [],
    })),
    prompts: Array.from({ length: 3 }, (_, i) => ({
      id: `7a1b2c3d-0000-4000-8000-${String(i).padStart(12, "0")}`,
      name: `prompt_${i}`,
      description: `Prompt ${i}`,
      prompt: `Summarize {{topic}} in ${i + 1} sentences.`,
      arguments: { type: "object", properties: { topic: { type: "string" } }, required: ["topic"] },
    })),
  });
}

const RESOLVED = resolvedToolset(50, '"etag-1"');
const RESOLVED_BYTES = toBinary(ResolvedToolsetSchema, RESOLVED);
const CHANGED = resolvedToolset(51, '"etag-2"');
const WATCH: { resolved: ResolvedToolset; etag: string }[] = [
  { resolved: RESOLVED, etag: RESOLVED.etag },
  { resolved: CHANGED, etag: CHANGED.etag },
];

/** What the fake handlers saw, one entry per call. */
const seen: { method: string; binary: boolean }[] = [];

function record(method: string, ctx: HandlerContext): boolean {
  const binary = wantsBinary(ctx);
  seen.push({ method, binary });
  return binary;
}

let dual: DualServer;
let baseUrl: string;

beforeAll(async () => {
  const handler = createRpcHandler({
    logger: silentLogger,
    routes: (router) =>
      router.service(ReleaseService, {
        resolveToolset(_req, ctx) {
          if (record("resolve", ctx)) return withEncodedField(create(ResolveToolsetResponseSchema), 1, RESOLVED_BYTES);
          return create(ResolveToolsetResponseSchema, { resolved: RESOLVED });
        },
        async *watchToolset(_req, ctx) {
          const binary = record("watch", ctx);
          for (const init of WATCH) {
            if (!binary) yield create(WatchToolsetResponseSchema, init);
            else {
              const { resolved, ...rest } = init;
              yield withEncodedField(create(WatchToolsetResponseSchema, rest), 1, toBinary(ResolvedToolsetSchema, resolved));
            }
          }
        },
      }),
  });
  dual = createDualServer(handler);
  const addr = await dual.listen(0, "127.0.0.1");
  baseUrl = `http://127.0.0.1:${addr.port}`;
});

afterAll(async () => {
  await dual?.shutdown(1_000);
});

type Case = [name: string, binary: boolean, transport: () => Transport];

const UNARY: Case[] = [
  ["Connect JSON POST", false, () => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false })],
  ["Connect JSON GET", false, () => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false, useHttpGet: true })],
  ["Connect proto POST", true, () => createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true })],
  ["Connect proto GET", true, () => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true, useHttpGet: true })],
  ["gRPC", true, () => createGrpcTransport({ baseUrl })],
  ["gRPC +json", false, () => createGrpcTransport({ baseUrl, useBinaryFormat: false })],
  ["gRPC-Web", true, () => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })],
  ["gRPC-Web +json", false, () => createGrpcWebTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false })],
];

const STREAMING: Case[] = [
  ["Connect streaming JSON", false, () => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false })],
  ["Connect streaming proto", true, () => createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true })],
  ["gRPC", true, () => createGrpcTransport({ baseUrl })],
  ["gRPC +json", false, () => createGrpcTransport({ baseUrl, useBinaryFormat: false })],
  ["gRPC-Web", true, () => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })],
  ["gRPC-Web +json", false, () => createGrpcWebTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false })],
];

describe("pre-encoded ResolvedToolset over every protocol", () => {
  it.each(UNARY)("ResolveToolset over %s decodes equal to the original (binary: %s)", async (_name, binary, transport) => {
    seen.length = 0;
    const res = await createClient(ReleaseService, transport()).resolveToolset({ project: "p", slug: "petstore" });
    expect(seen).toEqual([{ method: "resolve", binary }]);
    expect(res.resolved?.tools).toHaveLength(50);
    expect(equals(ResolveToolsetResponseSchema, res, create(ResolveToolsetResponseSchema, { resolved: RESOLVED }))).toBe(true);
    expect(res.$unknown ?? []).toEqual([]);
  });

  it.each(STREAMING)("WatchToolset over %s decodes equal to the originals (binary: %s)", async (_name, binary, transport) => {
    seen.length = 0;
    const got: WatchToolsetResponse[] = [];
    for await (const m of createClient(ReleaseService, transport()).watchToolset({ project: "p", slug: "petstore" })) got.push(m);
    expect(seen).toEqual([{ method: "watch", binary }]);
    expect(got).toHaveLength(WATCH.length);
    got.forEach((m, i) => expect(equals(WatchToolsetResponseSchema, m, create(WatchToolsetResponseSchema, WATCH[i]))).toBe(true));
  });

  it("a Connect GET's codec is its encoding parameter, whatever content-type header it carries", async () => {
    const path = `${baseUrl}/releases.v1.ReleaseService/ResolveToolset?connect=v1`;
    seen.length = 0;
    const json = await fetch(`${path}&encoding=json&message=${encodeURIComponent("{}")}`, { headers: { "content-type": "application/proto" } });
    expect(json.headers.get("content-type")).toBe("application/json");
    const fromJsonBody = fromJson(ResolveToolsetResponseSchema, (await json.json()) as never);
    expect(equals(ResolvedToolsetSchema, fromJsonBody.resolved!, RESOLVED)).toBe(true);

    const empty = base64Encode(new Uint8Array(0), "url");
    const proto = await fetch(`${path}&encoding=proto&base64=1&message=${empty}`, { headers: { "content-type": "application/json" } });
    expect(proto.headers.get("content-type")).toBe("application/proto");
    const fromProtoBody = fromBinary(ResolveToolsetResponseSchema, new Uint8Array(await proto.arrayBuffer()));
    expect(equals(ResolvedToolsetSchema, fromProtoBody.resolved!, RESOLVED)).toBe(true);
    expect(seen).toEqual([
      { method: "resolve", binary: false },
      { method: "resolve", binary: true },
    ]);
  });
});

describe("Connect unary responses pass through the parse-error fix untouched", () => {
  it.each([
    ["application/json", new TextEncoder().encode('{"project":"p","slug":"petstore"}')],
    ["application/proto", new Uint8Array(0)],
  ])("a %s success body is not decoded or JSON.parse'd on the way out", async (contentType, body) => {
    const parse = vi.spyOn(JSON, "parse");
    let text: string;
    let parsed: unknown[];
    try {
      const res = await fetch(`${baseUrl}/releases.v1.ReleaseService/ResolveToolset`, {
        method: "POST",
        headers: { "content-type": contentType, "connect-protocol-version": "1" },
        body,
      });
      expect(res.status).toBe(200);
      text = new TextDecoder().decode(await res.arrayBuffer());
    } finally {
      parsed = parse.mock.calls.map(([arg]) => arg);
      parse.mockRestore(); // also forgets the calls
    }
    expect(text.length).toBeGreaterThan(10_000);
    // The only JSON.parse allowed is the server reading the small JSON request
    // (twice for a message with enum fields: see platform/edge-codec.ts).
    const request = new TextDecoder().decode(body);
    expect(parsed.filter((arg) => arg !== request)).toEqual([]);
    expect(parsed.length > 0).toBe(contentType === "application/json");
  });
});

describe("a body that is not valid protobuf binary is INVALID_ARGUMENT on every protocol", () => {
  const BAD = new Uint8Array([0x0a, 0xff, 0xff, 0xff]);
  const enveloped = (flags: number, payload: Uint8Array) => {
    const out = new Uint8Array(5 + payload.length);
    out[0] = flags;
    new DataView(out.buffer).setUint32(1, payload.length);
    out.set(payload, 5);
    return out;
  };
  /** The envelopes of a Connect streaming or gRPC-Web body. */
  const envelopes = (bytes: Uint8Array) => {
    const out: { flags: number; payload: Uint8Array }[] = [];
    for (let i = 0; i + 5 <= bytes.length;) {
      const len = new DataView(bytes.buffer, bytes.byteOffset + i + 1, 4).getUint32(0);
      out.push({ flags: bytes[i]!, payload: bytes.subarray(i + 5, i + 5 + len) });
      i += 5 + len;
    }
    return out;
  };

  it("Connect unary", async () => {
    const res = await fetch(`${baseUrl}/releases.v1.ReleaseService/ResolveToolset`, {
      method: "POST",
      headers: { "content-type": "application/proto" },
      body: BAD,
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe("invalid_argument");
  });

  it("Connect streaming", async () => {
    const res = await fetch(`${baseUrl}/releases.v1.ReleaseService/WatchToolset`, {
      method: "POST",
      headers: { "content-type": "application/connect+proto" },
      body: enveloped(0, BAD),
    });
    const frames = envelopes(new Uint8Array(await res.arrayBuffer()));
    const end = frames.at(-1)!;
    expect(end.flags & 0x02).toBe(0x02);
    expect((JSON.parse(new TextDecoder().decode(end.payload)) as { error?: { code?: string } }).error?.code).toBe("invalid_argument");
  });

  it("gRPC-Web", async () => {
    const res = await fetch(`${baseUrl}/releases.v1.ReleaseService/ResolveToolset`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto" },
      body: enveloped(0, BAD),
    });
    const trailer = envelopes(new Uint8Array(await res.arrayBuffer())).find((f) => f.flags & 0x80);
    expect(new TextDecoder().decode(trailer?.payload)).toMatch(/grpc-status: ?3\b/);
  });

  it("gRPC", async () => {
    expect(await rawGrpcStatus(baseUrl, "/releases.v1.ReleaseService/ResolveToolset", BAD)).toBe("3");
  });
});

describe("withEncodedField", () => {
  const prefixOf = (n: number) => new BinaryWriter().uint32(n).finish();

  it.each([
    ["> 128 bytes (2-byte length)", 2, 2],
    ["> 16 KiB (3-byte length)", 200, 3],
  ])("encodes a sub-message of %s exactly as the real field", (_name, tools, prefixBytes) => {
    const resolved = resolvedToolset(tools, '"e"');
    const encoded = toBinary(ResolvedToolsetSchema, resolved);
    expect(encoded.length).toBeGreaterThan(prefixBytes === 2 ? 128 : 16 * 1024);
    expect(encoded.length).toBeLessThan(prefixBytes === 2 ? 16 * 1024 : 2 * 1024 * 1024);

    const wrapped = withEncodedField(create(ResolveToolsetResponseSchema), 1, encoded);
    expect(wrapped.resolved).toBeUndefined();
    const data = wrapped.$unknown![0]!.data;
    expect(data.length - encoded.length).toBe(prefixBytes);
    // With only field 1 set, the bytes are those of the real message.
    const real = create(ResolveToolsetResponseSchema, { resolved });
    const bytes = toBinary(ResolveToolsetResponseSchema, wrapped);
    expect(Buffer.from(bytes).equals(Buffer.from(toBinary(ResolveToolsetResponseSchema, real)))).toBe(true);
    expect(equals(ResolveToolsetResponseSchema, fromBinary(ResolveToolsetResponseSchema, bytes), real)).toBe(true);
    // Beside a known field (written first, the unknown one after): still the same message.
    const both = withEncodedField(create(WatchToolsetResponseSchema, { etag: "x", keepalive: false }), 1, encoded);
    const decoded = fromBinary(WatchToolsetResponseSchema, toBinary(WatchToolsetResponseSchema, both));
    expect(equals(WatchToolsetResponseSchema, decoded, create(WatchToolsetResponseSchema, { resolved, etag: "x" }))).toBe(true);
  });

  it("writes the varint length prefix at every boundary", () => {
    for (const n of [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152]) {
      const encoded = new Uint8Array(n).fill(7);
      const data = withEncodedField(create(ResolveToolsetResponseSchema), 1, encoded).$unknown![0]!.data;
      const prefix = prefixOf(n);
      expect(Buffer.from(data.subarray(0, prefix.length)).equals(Buffer.from(prefix))).toBe(true);
      expect(data.length).toBe(prefix.length + n);
      expect(data[data.length - 1]).toBe(n === 0 ? 0 : 7);
    }
  });

  it("replaces an earlier encoded field of the same number, keeps other unknown fields", () => {
    const msg = create(ResolveToolsetResponseSchema);
    msg.$unknown = [{ no: 9, wireType: 0, data: new Uint8Array([1]) }];
    withEncodedField(msg, 1, toBinary(ResolvedToolsetSchema, CHANGED));
    withEncodedField(msg, 1, RESOLVED_BYTES);
    expect(msg.$unknown.map((u) => u.no)).toEqual([9, 1]);
    const decoded = fromBinary(ResolveToolsetResponseSchema, toBinary(ResolveToolsetResponseSchema, msg));
    expect(equals(ResolvedToolsetSchema, decoded.resolved!, RESOLVED)).toBe(true);
  });

  it("is invisible to JSON: why wantsBinary must gate it", () => {
    const wrapped = withEncodedField(create(ResolveToolsetResponseSchema), 1, RESOLVED_BYTES);
    expect(toJson(ResolveToolsetResponseSchema, wrapped)).toEqual({});
  });

  it("refuses an invalid field number", () => {
    expect(() => withEncodedField(create(ResolveToolsetResponseSchema), 0, RESOLVED_BYTES)).toThrow(RangeError);
    expect(() => withEncodedField(create(ResolveToolsetResponseSchema), 2 ** 29, RESOLVED_BYTES)).toThrow(RangeError);
  });
});

describe("encodeStruct and encodeResolved", () => {
  const samples: JsonObject[] = [
    {},
    inputSchema(7),
    { zero: 0, negative: -12.5, big: 2 ** 53 - 1, tiny: 5e-324, bools: [true, false], nulls: [null, [null]], empty: {}, emptyList: [] },
    { long: "x".repeat(300), longer: "é".repeat(10_000), many: Array.from({ length: 200 }, (_, i) => ({ i, s: `item ${i}` })) },
    { "": "empty key", ключ: "значение", emoji: "😀", nested: { a: { b: { c: [1, { d: "deep" }] } } } },
  ];

  it.each(samples.map((s, i) => [i, s] as const))("sample %i decodes to the Struct protobuf-es writes", (_i, json) => {
    const ours = fromBinary(StructSchema, encodeStruct(json));
    const theirs = fromBinary(StructSchema, toBinary(StructSchema, fromJson(StructSchema, json)));
    expect(equals(StructSchema, ours, theirs)).toBe(true);
    expect(toJson(StructSchema, ours)).toEqual(json);
  });

  it("leaves out keys whose value is undefined, as JSON does", () => {
    const json = { kept: 1, dropped: undefined } as unknown as JsonObject;
    expect(toJson(StructSchema, fromBinary(StructSchema, encodeStruct(json)))).toEqual({ kept: 1 });
  });

  it("a resolved toolset encoded with them decodes equal to the message, which stays untouched", () => {
    const message = resolvedToolset(50, "etag-fast");
    const before = toBinary(ResolvedToolsetSchema, message);
    const fast = encodeResolved(message);
    expect(equals(ResolvedToolsetSchema, fromBinary(ResolvedToolsetSchema, fast), message)).toBe(true);
    expect(message.tools[0]?.$unknown).toBeUndefined();
    expect(message.tools[0]?.inputSchema).toEqual(inputSchema(0));
    expect(toBinary(ResolvedToolsetSchema, message)).toEqual(before);
  });
});
