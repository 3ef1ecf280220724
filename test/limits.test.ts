import { request as http1Request } from "node:http";
import { gzipSync } from "node:zlib";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ErrorInfoSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { ReleaseService, ResolveToolsetResponseSchema } from "../gen/releases/v1/releases_pb.js";
import { SourceService } from "../gen/sources/v1/sources_pb.js";
import { ToolsetService } from "../gen/toolsets/v1/toolsets_pb.js";
import { SMALL_REQUEST_BYTES } from "../server/platform/edge-limits.js";
import { createLogger } from "../server/platform/logging.js";
import { createRpcHandler } from "../server/platform/rpc-handler.js";
import { createDualServer, type DualServer } from "../server/platform/server.js";
import { bearer, PROTOCOLS, type Protocol } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";
import { rawCall, rawPartialCall, type Wire } from "./support/raw-rpc.js";

// The production limits: MAX_REQUEST_BYTES 4 MiB, and each RPC's own bound below it.
const { server, tenant } = useTestServer({ tenants: 1 });

async function stillHealthy() {
  expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
  expect((await server.client(Health, "grpc").check({})).status).toBeGreaterThan(0);
}

const code = (err: unknown) => ConnectError.from(err).code;
const DEPLOY = "/sources.v1.SourceService/CreateDeployment";
const LIST = "/toolsets.v1.ToolsetService/ListToolsets";
const WATCH = "/releases.v1.ReleaseService/WatchToolset";
const UNKNOWN_KEY = `tsr_${"A".repeat(43)}`;

describe("work before authentication is bounded", () => {
  // Each sends the headers and the first 64 KiB of a 3 MB body, then waits: the
  // answer must come while the rest is unsent, so the body was never decoded.
  const cases: [string, Wire, string, Record<string, string>][] = [
    ["Connect unary, no key", "connect", DEPLOY, {}],
    ["gRPC, no key", "grpc", DEPLOY, {}],
    ["gRPC-Web, no key", "grpc-web", DEPLOY, {}],
    ["Connect streaming, malformed key", "connect-stream", WATCH, { authorization: "Bearer nope" }],
    ["Connect unary, unknown key", "connect", DEPLOY, { authorization: `Bearer ${UNKNOWN_KEY}` }],
    ["gRPC, unknown key", "grpc", LIST, { authorization: `Bearer ${UNKNOWN_KEY}` }],
  ];
  it.each(cases)("%s: a 3 MB body is refused UNAUTHENTICATED before it is sent", async (_name, wire, path, headers) => {
    const answer = await rawPartialCall(server.baseUrl, { wire, path, headers, declaredLength: 3_000_000, sent: 64 * 1024 });
    expect(answer.code).toBe(Code.Unauthenticated);
    await stillHealthy();
  });

  it("a consumer key writing a 3 MB body is refused PERMISSION_DENIED before it is sent", async () => {
    const answer = await rawPartialCall(server.baseUrl, {
      wire: "grpc",
      path: DEPLOY,
      headers: { authorization: `Bearer ${tenant.consumerKey}` },
      declaredLength: 3_000_000,
      sent: 64 * 1024,
    });
    expect(answer.code).toBe(Code.PermissionDenied);
  });

  it("over HTTP/1.1 too, and /healthz answers while the refused upload is still open", async () => {
    const req = http1Request(`${server.baseUrl}${DEPLOY}`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": "3000000" },
    });
    req.on("error", () => undefined);
    const response = new Promise<{ status: number; body: string }>((resolve) =>
      req.on("response", (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      }),
    );
    req.write(Buffer.alloc(64 * 1024, 0x20));
    try {
      const { status, body } = await response;
      expect(status).toBe(401);
      expect((JSON.parse(body) as { code: string }).code).toBe("unauthenticated");
      expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
    } finally {
      req.destroy();
    }
  });

  it("a key is looked up once per request, not again by the interceptor", async () => {
    const lookups = vi.spyOn(server.app.context.tenancy, "caller");
    try {
      await server.client(ToolsetService, "grpc").listToolsets({ project: tenant.project }, bearer(tenant.consumerKey));
      expect(lookups).toHaveBeenCalledTimes(1);
    } finally {
      lookups.mockRestore();
    }
  });
});

describe("each RPC has its own request size limit", () => {
  const WIRES: Wire[] = ["connect", "grpc", "grpc-web"];
  const auth = () => ({ authorization: `Bearer ${tenant.consumerKey}` });

  it.each(WIRES)("a ListToolsets request of 65 KiB → RESOURCE_EXHAUSTED naming the 64 KiB limit over %s", async (wire) => {
    const message = JSON.stringify({ project: tenant.project, pageToken: "x".repeat(SMALL_REQUEST_BYTES) });
    const answer = await rawCall(server.baseUrl, { wire, path: LIST, message, headers: auth() });
    expect(answer.code).toBe(Code.ResourceExhausted);
    expect(answer.message).toContain(String(SMALL_REQUEST_BYTES));
  });

  it.each(WIRES)("a Content-Length over the limit is refused before the body is sent over %s", async (wire) => {
    const answer = await rawPartialCall(server.baseUrl, { wire, path: LIST, headers: auth(), declaredLength: 1_000_000, sent: 16 });
    expect(answer.code).toBe(Code.ResourceExhausted);
    expect(answer.message).toContain(String(SMALL_REQUEST_BYTES));
  });

  it("a body without Content-Length is counted as it arrives, and refused once over the limit", async () => {
    // Connect unary (the only unframed body): 128 KiB sent of a body never finished.
    const answer = await rawPartialCall(server.baseUrl, { wire: "connect", path: LIST, headers: auth(), sent: 128 * 1024 });
    expect(answer.code).toBe(Code.ResourceExhausted);
  });

  it.each(WIRES)("a gzip body inflating past the limit → RESOURCE_EXHAUSTED over %s", async (wire) => {
    const bomb = gzipSync(Buffer.from(JSON.stringify({ project: tenant.project, pageToken: "x".repeat(8 * 1024 * 1024) })));
    expect(bomb.length).toBeLessThan(SMALL_REQUEST_BYTES);
    const headers = wire === "connect" ? { "content-encoding": "gzip" } : { "grpc-encoding": "gzip" };
    const answer = await rawCall(server.baseUrl, { wire, path: LIST, message: bomb, flags: 1, headers: { ...auth(), ...headers } });
    expect(answer.code).toBe(Code.ResourceExhausted);
    await stillHealthy();
  });

  it.each(PROTOCOLS)("RPCs carrying larger payloads keep larger limits: a 300 KiB CreateToolset is served over %s", async (protocol) => {
    const resourceUrns = Array.from({ length: 1000 }, (_, i) => `urn:${i}:${"r".repeat(290)}`);
    const res = await server
      .client(ToolsetService, protocol)
      .createToolset({ project: tenant.project, name: `big ${protocol}`, resourceUrns }, bearer(tenant.producerKey));
    expect(res.toolset?.resourceUrns).toHaveLength(1000);
  });

  it.each(PROTOCOLS)("an UpsertPromptTemplate as large as its fields allow fits its limit over %s", async (protocol) => {
    const line = `${"p".repeat(79)}\n`;
    const prompt = line.repeat(Math.floor((64 * 1024) / line.length));
    const properties = Object.fromEntries(Array.from({ length: 520 }, (_, i) => [`arg${i}`, { type: "string", description: `"${"d".repeat(70)}"` }]));
    const res = await server
      .client(SourceService, protocol)
      .upsertPromptTemplate(
        { project: tenant.project, name: `full-${protocol}`, description: "é".repeat(4096), prompt, arguments: { type: "object", properties } },
        bearer(tenant.producerKey),
      );
    expect(res.promptTemplate?.prompt).toBe(prompt);
  });

  it.each(PROTOCOLS)("an UpsertPromptTemplate over its 256 KiB limit → RESOURCE_EXHAUSTED over %s", async (protocol) => {
    const big = "x".repeat(256 * 1024 + 1);
    const err = await server
      .client(SourceService, protocol)
      .upsertPromptTemplate({ project: tenant.project, name: "big", prompt: big }, bearer(tenant.producerKey))
      .catch((e: unknown) => e);
    expect(code(err)).toBe(Code.ResourceExhausted);
    const { promptTemplates } = await server.client(SourceService).listPromptTemplates({ project: tenant.project }, bearer(tenant.producerKey));
    expect(promptTemplates.map((p) => p.name)).not.toContain("big");
    await stillHealthy();
  });
});

describe("request limits and malformed input", () => {
  it("a malformed JSON body → INVALID_ARGUMENT", async () => {
    const res = await fetch(`${server.baseUrl}/sources.v1.SourceService/ListPromptTemplates`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${tenant.producerKey}` },
      body: '{"project": ',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe("invalid_argument");
    await stillHealthy();
  });

  it("a body of the wrong type for a field → INVALID_ARGUMENT", async () => {
    const res = await fetch(`${server.baseUrl}/sources.v1.SourceService/ListPromptTemplates`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${tenant.producerKey}` },
      body: '{"project": 42, "nope": true}',
    });
    expect(((await res.json()) as { code: string }).code).toBe("invalid_argument");
  });

  it("a malformed binary body → INVALID_ARGUMENT", async () => {
    const res = await fetch(`${server.baseUrl}/sources.v1.SourceService/ListPromptTemplates`, {
      method: "POST",
      headers: { "content-type": "application/proto", authorization: `Bearer ${tenant.producerKey}` },
      body: new Uint8Array([0x0a, 0xff, 0xff, 0xff]),
    });
    expect(((await res.json()) as { code: string }).code).toBe("invalid_argument");
    await stillHealthy();
  });

  it("an unknown path → 404, and errors never leak internals", async () => {
    const res = await fetch(`${server.baseUrl}/nope.v1.Nope/Call`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(res.status).toBe(404);
  });
});

describe("unary calls in progress are bounded (MAX_IN_FLIGHT)", () => {
  // A handler of its own whose resolves wait until the test lets them go.
  const MAX = 2;
  let dual: DualServer;
  let baseUrl: string;
  let inFlight: () => number;
  const waiting: (() => void)[] = [];
  const logged: Record<string, unknown>[] = [];
  const transports = new Map<Protocol, Transport>();
  const client = (protocol: Protocol) => {
    let t = transports.get(protocol);
    if (!t) {
      t =
        protocol === "grpc"
          ? createGrpcTransport({ baseUrl })
          : protocol === "grpc-web"
            ? createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })
            : createConnectTransport({
                baseUrl,
                httpVersion: protocol === "connect-json" ? "1.1" : "2",
                useBinaryFormat: protocol === "connect-binary",
              });
      transports.set(protocol, t);
    }
    return createClient(ReleaseService, t);
  };

  beforeAll(async () => {
    const handler = createRpcHandler({
      logger: createLogger("info", { write: (l: string) => logged.push(JSON.parse(l) as Record<string, unknown>) }),
      maxInFlight: MAX,
      routes: (router) => {
        router.service(ReleaseService, {
          async resolveToolset() {
            await new Promise<void>((resolve) => waiting.push(resolve));
            return create(ResolveToolsetResponseSchema, { notModified: true });
          },
          async *watchToolset() {
            yield { etag: "e" };
          },
        });
        router.service(Health, { check: () => ({ status: HealthCheckResponse_ServingStatus.SERVING }) });
      },
    });
    inFlight = handler.inFlight;
    dual = createDualServer(handler);
    baseUrl = `http://127.0.0.1:${(await dual.listen(0, "127.0.0.1")).port}`;
  });
  afterEach(async () => {
    for (const release of waiting.splice(0)) release();
    await expect.poll(inFlight).toBe(0);
  });
  afterAll(async () => {
    await dual.shutdown(1_000);
  });

  it.each(PROTOCOLS)(
    "the call past the bound is refused at once over %s: RESOURCE_EXHAUSTED, OVERLOADED, in_flight, a retry delay",
    async (protocol) => {
      const held = Array.from({ length: MAX }, () => client(protocol).resolveToolset({ project: "p", slug: "s" }));
      await expect.poll(() => waiting.length).toBe(MAX);
      expect(inFlight()).toBe(MAX);
      const err = ConnectError.from(
        await client(protocol)
          .resolveToolset({ project: "p", slug: "s" })
          .catch((e: unknown) => e),
      );
      expect(err.code).toBe(Code.ResourceExhausted);
      const [info] = err.findDetails(ErrorInfoSchema);
      expect(info?.reason).toBe("OVERLOADED");
      expect(info?.metadata["resource"]).toBe("in_flight");
      expect(err.findDetails(RetryInfoSchema)).toHaveLength(1);
      // Health checks and streams are not counted.
      expect((await createClient(Health, transports.get(protocol)!).check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
      for await (const m of client(protocol).watchToolset({ project: "p", slug: "s" })) expect(m.etag).toBe("e");
      // Once the held calls end, calls are served again.
      for (const release of waiting.splice(0)) release();
      await Promise.all(held);
      const next = client(protocol).resolveToolset({ project: "p", slug: "s" });
      await expect.poll(() => waiting.length).toBe(1);
      waiting.shift()!();
      expect((await next).notModified).toBe(true);
    },
  );

  it("while every place is taken, a request is refused before its body is read", async () => {
    const held = Array.from({ length: MAX }, () => client("grpc").resolveToolset({ project: "p", slug: "s" }));
    await expect.poll(() => waiting.length).toBe(MAX);
    const answer = await rawPartialCall(baseUrl, {
      wire: "grpc",
      path: "/releases.v1.ReleaseService/ResolveToolset",
      declaredLength: 60_000,
      sent: 1_000,
      headers: { "x-request-id": "overloaded-1" },
    });
    expect(answer.code).toBe(Code.ResourceExhausted);
    // Logged once, by the handler (no interceptor saw it).
    await expect
      .poll(() => logged.filter((l) => l["request_id"] === "overloaded-1"))
      .toEqual([
        expect.objectContaining({ msg: "rpc", code: "ResourceExhausted", protocol: "grpc", procedure: "/releases.v1.ReleaseService/ResolveToolset" }),
      ]);
    for (const release of waiting.splice(0)) release();
    await Promise.all(held);
  });

  it("a client sending its body slowly holds no place", async () => {
    const slow = rawPartialCall(baseUrl, {
      wire: "grpc",
      path: "/releases.v1.ReleaseService/ResolveToolset",
      declaredLength: 60_000,
      sent: 1_000,
      timeoutMs: 500,
    }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    expect(inFlight()).toBe(0);
    expect(await slow).toBeInstanceOf(Error); // never answered: it never finished its body
  });
});
