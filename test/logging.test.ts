import { Code, ConnectError, createContextValues, type UnaryRequest, type UnaryResponse } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { ReleaseService } from "../gen/releases/v1/releases_pb.js";
import { ToolsetService } from "../gen/toolsets/v1/toolsets_pb.js";
import { createLogger } from "../server/platform/logging.js";
import { observeInterceptor } from "../server/platform/observe.js";
import { runInRequest, type RequestContext } from "../server/platform/request-context.js";
import { bearer, rawGrpcStatus } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";

const lines: string[] = [];
const { server, tenant } = useTestServer({ server: { logger: createLogger("debug", { write: (s: string) => lines.push(s) }) }, tenants: 1 });

describe("logs", () => {
  it("write one JSON line per RPC with procedure, code, duration and caller id, never the key or the body", async () => {
    lines.length = 0;
    const secretName = "very-secret-toolset-name";
    await server
      .client(ToolsetService, "grpc")
      .createToolset({ project: tenant.project, name: secretName }, bearer(tenant.producerKey))
      .catch(() => undefined);
    await expect.poll(() => lines.length).toBeGreaterThan(0);
    const rpcLines = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l["msg"] === "rpc");
    expect(rpcLines).toHaveLength(1);
    const line = rpcLines[0]!;
    expect(line["procedure"]).toBe("/toolsets.v1.ToolsetService/CreateToolset");
    expect(typeof line["code"]).toBe("string");
    expect(typeof line["duration_ms"]).toBe("number");
    expect(line["caller_id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(line["protocol"]).toBe("grpc");
    expect(line["request_id"]).toMatch(/^[0-9a-f-]{36}$/);
    const all = lines.join("");
    expect(all).not.toContain(tenant.producerKey);
    expect(all).not.toContain(secretName);
  });
});

describe("a watch the client ends", () => {
  it("is logged as Canceled, not as the UNAVAILABLE of a shutdown", async () => {
    const auth = bearer(tenant.producerKey);
    await server.client(ToolsetService).createToolset({ project: tenant.project, name: "watched", slug: "watched" }, auth);
    lines.length = 0;
    const abort = new AbortController();
    const stream = server.client(ReleaseService).watchToolset({ project: tenant.project, slug: "watched" }, { ...auth, signal: abort.signal });
    const iterator = stream[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.resolved?.slug).toBe("watched");
    abort.abort();
    await iterator.next().catch(() => undefined);
    await expectOneLine("/releases.v1.ReleaseService/WatchToolset", "Canceled");
  });

  it.each(["connect-json", "grpc"] as const)("a health Watch the client ends over %s is logged once, as Canceled", async (protocol) => {
    lines.length = 0;
    const abort = new AbortController();
    const iterator = server.client(Health, protocol).watch({}, { signal: abort.signal })[Symbol.asyncIterator]();
    await iterator.next();
    abort.abort();
    await iterator.next().catch(() => undefined);
    await expectOneLine("/grpc.health.v1.Health/Watch", "Canceled");
  });
});

/** Exactly one `rpc` line of `procedure`, with `code`, once the lines have settled. */
async function expectOneLine(procedure: string, code: string): Promise<void> {
  const found = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l["msg"] === "rpc" && l["procedure"] === procedure);
  await expect.poll(() => found().length).toBeGreaterThan(0);
  await new Promise((r) => setTimeout(r, 300)); // a second line would follow the first within this
  expect(found().map((l) => l["code"])).toEqual([code]);
}

describe("malformed binary over gRPC", () => {
  it("answers grpc-status INVALID_ARGUMENT (3), not INTERNAL", async () => {
    const status = await rawGrpcStatus(server.baseUrl, "/toolsets.v1.ToolsetService/ListToolsets", Buffer.from([0x0a, 0xff, 0xff, 0xff]), {
      authorization: `Bearer ${tenant.producerKey}`,
    });
    expect(status).toBe("3");
  });
});

describe("the observe interceptor", () => {
  const request = (id: string): RequestContext => ({
    requestId: id,
    clientAddress: "192.0.2.1",
    deadline: undefined,
    signal: new AbortController().signal,
    marks: { observed: false },
  });
  const unary = {
    service: ToolsetService,
    method: ToolsetService.method.getToolset,
    requestMethod: "POST",
    header: new Headers({ "content-type": "application/proto" }),
    contextValues: createContextValues(),
  } as unknown as UnaryRequest;

  it("marks the request observed once it has logged it, and reports it to the metrics", async () => {
    const out: string[] = [];
    const ended: [string, string | undefined, number | undefined][] = [];
    const interceptor = observeInterceptor(createLogger("info", { write: (s: string) => out.push(s) }), () => null, {
      rpcEnded: (procedure, error, seconds) => ended.push([procedure, error && Code[error.code], seconds]),
    });
    const ok = request("req-ok");
    await runInRequest(ok, () => interceptor(async () => ({ stream: false }) as UnaryResponse)(unary));
    expect(ok.marks.observed).toBe(true);
    const bad = request("req-bad");
    const thrown = await runInRequest(bad, () =>
      interceptor(() => Promise.reject(new Error("secret detail")))(unary).then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      ),
    );
    expect(bad.marks.observed).toBe(true);
    expect(thrown?.rawMessage).toBe("internal error (request id req-bad)");
    expect(ended.map(([p, c, s]) => [p, c, typeof s])).toEqual([
      ["/toolsets.v1.ToolsetService/GetToolset", undefined, "number"],
      ["/toolsets.v1.ToolsetService/GetToolset", "Internal", "number"],
    ]);
    const logged = out.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged.map((l) => [l["request_id"], l["code"], l["level"]])).toEqual([
      ["req-ok", "OK", "info"],
      ["req-bad", "Internal", "error"],
    ]);
    expect(out.join("")).not.toContain("192.0.2.1");
  });
});
