import { gzipSync } from "node:zlib";
import { toBinary, create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema } from "../gen/google/rpc/error_details_pb.js";
import { DiffReleasesResponseSchema } from "../gen/releases/v1/releases_pb.js";
import { CreateToolsetRequestSchema, EditingMode } from "../gen/toolsets/v1/toolsets_pb.js";
import { strictJsonOptions } from "../server/platform/edge-codec.js";
import { createLogger } from "../server/platform/logging.js";
import { httpTool } from "../server/testing/fixtures.js";
import { useTestServer } from "../server/testing/use-test-server.js";
import { rawCall, rawGet, type RawAnswer, type Wire } from "./support/raw-rpc.js";

// Every request this service cannot decode is answered INVALID_ARGUMENT (naming
// the field where there is one) on every protocol it can arrive by, changes
// nothing, and leaves exactly one log line without its body or key.

const lines: string[] = [];
const { server, tenant, api } = useTestServer({
  server: { logger: createLogger("debug", { write: (s: string) => lines.push(s) }) },
  tenants: 1,
});

const SLUG = "bad-input";
const RESOLVE = "/releases.v1.ReleaseService/ResolveToolset";
const WATCH = "/releases.v1.ReleaseService/WatchToolset";
const CREATE = "/toolsets.v1.ToolsetService/CreateToolset";
const SWITCH = "/toolsets.v1.ToolsetService/SwitchEditingMode";
const UPSERT_PROMPT = "/sources.v1.SourceService/UpsertPromptTemplate";
const LIST = "/toolsets.v1.ToolsetService/ListToolsets";

/** The unary wires (Connect streaming serves only streaming RPCs). */
const UNARY: Wire[] = ["connect", "grpc", "grpc-web"];
const ENVELOPED: Wire[] = ["grpc", "grpc-web", "connect-stream"];
/** A unary RPC on the enveloped wires, WatchToolset on Connect streaming. */
const pathOn = (wire: Wire, unary: string) => (wire === "connect-stream" ? WATCH : unary);

let requestNo = 0;
/** Headers with the producer key and a request id of this test's own. */
function headers(extra: Record<string, string> = {}, key: string | null = tenant.producerKey): Record<string, string> {
  return { "x-request-id": `bad-input-${++requestNo}`, ...(key === null ? {} : { authorization: `Bearer ${key}` }), ...extra };
}

/** The rpc log lines of one request. */
function rpcLines(requestId: string): Record<string, unknown>[] {
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l["msg"] === "rpc" && l["request_id"] === requestId);
}

/** Asserts the refusal's code, and that it was logged once, with procedure, code, protocol and request id. */
async function refused(call: (h: Record<string, string>) => Promise<RawAnswer>, code: Code, h = headers()): Promise<RawAnswer> {
  const answer = await call(h);
  expect(answer.code).toBe(code);
  const id = h["x-request-id"]!;
  await expect.poll(() => rpcLines(id).length).toBe(1);
  await new Promise((r) => setTimeout(r, 20)); // a second line would show by now
  const [line] = rpcLines(id);
  expect(rpcLines(id)).toHaveLength(1);
  expect(line?.["code"]).toBe(Code[code]);
  expect(line?.["procedure"]).toMatch(/^\/[a-z.0-9]+\.[A-Za-z]+\/[A-Za-z]+$/);
  expect(typeof line?.["protocol"]).toBe("string");
  return answer;
}

async function toolsetSlugs(): Promise<string[]> {
  return (await api.toolsets().listToolsets({ project: tenant.project }, api.auth())).toolsets.map((t) => t.slug);
}

beforeAll(async () => {
  await api.deploy([httpTool("a")]);
  await api.staged(SLUG, ["a"]);
  lines.length = 0;
});

describe("an unknown enum name in JSON is INVALID_ARGUMENT naming the field", () => {
  it.each([...UNARY, "connect-stream"] as Wire[])("ResolveToolset {target: TARGET_STAGNG} over %s", async (wire) => {
    const message = JSON.stringify({ project: tenant.project, slug: SLUG, target: "TARGET_STAGNG" });
    const answer = await refused((h) => rawCall(server.baseUrl, { wire, path: pathOn(wire, RESOLVE), message, headers: h }), Code.InvalidArgument);
    expect(answer.message).toMatch(/^target: "TARGET_STAGNG" is not a value of releases\.v1\.Target/);
  });

  it("over a Connect GET too", async () => {
    const message = encodeURIComponent(JSON.stringify({ project: tenant.project, slug: SLUG, target: "TARGET_STAGNG" }));
    const answer = await refused((h) => rawGet(server.baseUrl, RESOLVE, `connect=v1&encoding=json&message=${message}`, h), Code.InvalidArgument);
    expect(answer.message).toMatch(/^target: /);
  });

  it("in a nested message, by its path: DiffReleases {from: {target: …}}", async () => {
    const message = JSON.stringify({ project: tenant.project, slug: SLUG, from: { target: "LIVE" }, to: { releaseNumber: "1" } });
    const answer = await refused(
      (h) => rawCall(server.baseUrl, { wire: "connect", path: "/releases.v1.ReleaseService/DiffReleases", message, headers: h }),
      Code.InvalidArgument,
    );
    expect(answer.message).toMatch(/^from\.target: "LIVE" is not a value/);
  });

  it.each(UNARY)("a write naming an unknown mode over %s changes nothing", async (wire) => {
    const message = JSON.stringify({ project: tenant.project, slug: SLUG, mode: "EDITING_MODE_ITERATON" });
    const answer = await refused((h) => rawCall(server.baseUrl, { wire, path: SWITCH, message, headers: h }), Code.InvalidArgument);
    expect(answer.message).toMatch(/^mode: /);
    expect((await api.live(SLUG)).editingMode).toBe(EditingMode.STAGING);
  });

  it("names list items by index, and names the field in a BadRequest detail", () => {
    const { textDecoder } = strictJsonOptions(DiffReleasesResponseSchema);
    const bytes = new TextEncoder().encode(JSON.stringify({ changes: [{ kind: "CHANGE_KIND_TOOL_ADDED" }, { kind: "NOPE" }] }));
    let err: ConnectError | undefined;
    try {
      textDecoder.decode(bytes);
    } catch (e) {
      err = ConnectError.from(e);
    }
    expect(err?.code).toBe(Code.InvalidArgument);
    expect(err?.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field).toBe("changes[1].kind");
    // Names the enum has, numbers and null are left to protobuf-es, which takes them.
    const ok = new TextEncoder().encode(JSON.stringify({ changes: [{ kind: "CHANGE_KIND_TOOL_ADDED" }, { kind: 2 }, { kind: null }] }));
    expect(textDecoder.decode(ok)).toBe(new TextDecoder().decode(ok));
  });
});

describe("invalid UTF-8 in a JSON body is INVALID_ARGUMENT, as in binary, and nothing is stored", () => {
  const body = (name: string) =>
    Buffer.concat([
      Buffer.from(`{"project":"${tenant.project}","name":"${name}","prompt":"`),
      Buffer.from([0x61, 0xff, 0xfe, 0x62]),
      Buffer.from('"}'),
    ]);

  it.each(UNARY)("UpsertPromptTemplate with bytes 61 ff fe 62 over %s", async (wire) => {
    const name = `utf8-${wire}`;
    const answer = await refused(
      (h) => rawCall(server.baseUrl, { wire, path: UPSERT_PROMPT, message: body(name), headers: h }),
      Code.InvalidArgument,
    );
    expect(answer.message).toContain("UTF-8");
    const { promptTemplates } = await api.sources().listPromptTemplates({ project: tenant.project }, api.auth());
    expect(promptTemplates.map((p) => p.name)).not.toContain(name);
  });

  it("WatchToolset over Connect streaming", async () => {
    const message = Buffer.concat([Buffer.from(`{"project":"${tenant.project}","slug":"a`), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    await refused((h) => rawCall(server.baseUrl, { wire: "connect-stream", path: WATCH, message, headers: h }), Code.InvalidArgument);
  });

  it("a Connect GET whose query escapes are not UTF-8", async () => {
    const message = `%7B%22project%22%3A%22${tenant.project}%22%2C%22pageToken%22%3A%22a%FF%FEb%22%7D`;
    await refused((h) => rawGet(server.baseUrl, LIST, `connect=v1&encoding=json&message=${message}`, h), Code.InvalidArgument);
  });
});

describe("bodies that cannot be decompressed are INVALID_ARGUMENT and change nothing", () => {
  const createBinary = (slug: string) =>
    toBinary(CreateToolsetRequestSchema, create(CreateToolsetRequestSchema, { project: tenant.project, name: slug, slug }));
  const encodingHeader = (wire: Wire) => (wire === "connect-stream" ? "connect-content-encoding" : "grpc-encoding");

  it.each(ENVELOPED)("a message flagged compressed with no encoding header over %s", async (wire) => {
    const slug = `flagged-${wire}`;
    const message = wire === "connect-stream" ? Buffer.from(`{"project":"${tenant.project}","slug":"${SLUG}"}`) : createBinary(slug);
    const answer = await refused(
      (h) =>
        rawCall(server.baseUrl, {
          wire,
          path: pathOn(wire, CREATE),
          codec: wire === "connect-stream" ? "json" : "proto",
          message,
          flags: 1,
          headers: h,
        }),
      Code.InvalidArgument,
    );
    expect(answer.message).toContain("flagged compressed");
    expect(await toolsetSlugs()).not.toContain(slug);
  });

  it.each(ENVELOPED)("a truncated gzip message over %s", async (wire) => {
    const slug = `truncated-${wire}`;
    const whole = gzipSync(wire === "connect-stream" ? Buffer.from(`{"project":"${tenant.project}","slug":"${SLUG}"}`) : createBinary(slug));
    const message = whole.subarray(0, whole.length - 8);
    await refused(
      (h) =>
        rawCall(server.baseUrl, {
          wire,
          path: pathOn(wire, CREATE),
          codec: wire === "connect-stream" ? "json" : "proto",
          message,
          flags: 1,
          headers: { ...h, [encodingHeader(wire)]: "gzip" },
        }),
      Code.InvalidArgument,
    );
    expect(await toolsetSlugs()).not.toContain(slug);
  });

  it("a truncated gzip body over Connect unary", async () => {
    const whole = gzipSync(createBinary("truncated-connect"));
    await refused(
      (h) =>
        rawCall(server.baseUrl, {
          wire: "connect",
          path: CREATE,
          codec: "proto",
          message: whole.subarray(0, whole.length - 8),
          headers: { ...h, "content-encoding": "gzip" },
        }),
      Code.InvalidArgument,
    );
    expect(await toolsetSlugs()).not.toContain("truncated-connect");
  });
});

describe("bytes that are not protobuf are INVALID_ARGUMENT on every wire and change nothing", () => {
  it.each([...UNARY, "connect-stream"] as Wire[])("over %s", async (wire) => {
    await refused(
      (h) =>
        rawCall(server.baseUrl, { wire, path: pathOn(wire, CREATE), codec: "proto", message: new Uint8Array([0x0a, 0xff, 0xff, 0xff]), headers: h }),
      Code.InvalidArgument,
    );
    expect(await toolsetSlugs()).toEqual([SLUG]);
  });
});

describe("a Connect GET with invalid base64", () => {
  const query = "connect=v1&encoding=proto&base64=1&message=!!not-base64!!";

  it("is INVALID_ARGUMENT with a key", async () => {
    const answer = await refused((h) => rawGet(server.baseUrl, LIST, query, h), Code.InvalidArgument);
    expect(answer.message).toContain("base64");
  });

  it("is UNAUTHENTICATED without one, for an RPC that needs one", async () => {
    await refused((h) => rawGet(server.baseUrl, LIST, query, h), Code.Unauthenticated, headers({}, null));
  });

  it("is INVALID_ARGUMENT without one, for an RPC that may be called without one", async () => {
    await refused((h) => rawGet(server.baseUrl, RESOLVE, query, h), Code.InvalidArgument, headers({}, null));
  });
});

describe("refusals before decoding are logged once, without the body or the key", () => {
  it.each(UNARY)("no key, an unknown key, and a body over the limit, over %s", async (wire) => {
    const secret = "very-secret-payload";
    const message = JSON.stringify({ project: tenant.project, name: secret });
    await refused((h) => rawCall(server.baseUrl, { wire, path: CREATE, message, headers: h }), Code.Unauthenticated, headers({}, null));
    const unknownKey = `tsr_${"B".repeat(43)}`;
    await refused((h) => rawCall(server.baseUrl, { wire, path: CREATE, message, headers: h }), Code.Unauthenticated, headers({}, unknownKey));
    const big = JSON.stringify({ project: tenant.project, pageToken: "x".repeat(70_000) });
    await refused((h) => rawCall(server.baseUrl, { wire, path: LIST, message: big, headers: h }), Code.ResourceExhausted);
    const all = lines.join("\n");
    expect(all).not.toContain(secret);
    expect(all).not.toContain(unknownKey);
    expect(all).not.toContain(tenant.producerKey);
    expect(all).not.toContain("xxxxxxxx");
  });

  it("a request that reaches the interceptors is logged once too, by them", async () => {
    const h = headers({}, tenant.consumerKey);
    await refused(
      () => rawCall(server.baseUrl, { wire: "grpc", path: LIST, message: JSON.stringify({ project: "no-such-project" }), headers: h }),
      Code.NotFound,
      h,
    );
  });
});

describe("a decode error quoting a long input is cut to 1 KiB (gRPC carries the message as a header)", () => {
  it.each(UNARY)("an unknown field of 3,000 emoji over %s", async (wire) => {
    const message = JSON.stringify({ project: tenant.project, slug: SLUG, ["😀".repeat(3_000)]: 1 });
    const answer = await refused((h) => rawCall(server.baseUrl, { wire, path: pathOn(wire, RESOLVE), message, headers: h }), Code.InvalidArgument);
    expect(answer.message.length).toBeLessThanOrEqual(1024);
    expect(answer.message).toMatch(/… \(truncated\)$/);
  });
});
