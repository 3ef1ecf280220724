import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { SourceService } from "../gen/sources/v1/sources_pb.js";
import { bearer, PROTOCOLS } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";

const LIMIT = 64 * 1024;
const { server, tenant } = useTestServer({ server: { maxRequestBytes: LIMIT }, tenants: 1 });

async function stillHealthy() {
  expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
  expect((await server.client(Health, "grpc").check({})).status).toBeGreaterThan(0);
}

describe("request limits and malformed input", () => {
  it.each(PROTOCOLS)("a request over the size limit → RESOURCE_EXHAUSTED over %s", async (protocol) => {
    const big = "x".repeat(LIMIT + 1);
    const err = await server
      .client(SourceService, protocol)
      .upsertPromptTemplate({ project: tenant.project, name: "big", prompt: big }, bearer(tenant.producerKey))
      .catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.ResourceExhausted);
    await stillHealthy();
  });

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
