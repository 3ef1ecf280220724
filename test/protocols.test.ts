import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { ToolsetService } from "../gen/toolsets/v1/toolsets_pb.js";
import { bearer, PROTOCOLS } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";

const { server, tenant } = useTestServer({ server: { corsAllowedOrigins: ["https://app.example.com"] }, tenants: 1 });

describe("one port, four protocols", () => {
  it.each(PROTOCOLS)("health Check answers SERVING over %s", async (protocol) => {
    const res = await server.client(Health, protocol).check({});
    expect(res.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  it.each(PROTOCOLS)("an authenticated project RPC runs auth and tenancy over %s", async (protocol) => {
    const client = server.client(ToolsetService, protocol);
    const err = await client.listToolsets({ project: "nope-nope" }, bearer(tenant.consumerKey)).catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.NotFound);
    const unauth = await client.listToolsets({ project: tenant.project }).catch((e: unknown) => e);
    expect(ConnectError.from(unauth).code).toBe(Code.Unauthenticated);
  });

  it("serves plain HTTP/1.1 JSON as curl sends it", async () => {
    const res = await fetch(`${server.baseUrl}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "SERVING" });
  });

  it("GET /healthz and /readyz answer over HTTP/1.1", async () => {
    expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${server.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready" });
  });

  it("answers CORS preflights for allowed origins with Connect's header lists", async () => {
    const res = await fetch(`${server.baseUrl}/toolsets.v1.ToolsetService/ListToolsets`, {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,authorization,connect-protocol-version",
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(res.headers.get("access-control-allow-headers")).toMatch(/Connect-Protocol-Version/i);
    expect(res.headers.get("access-control-allow-headers")).toMatch(/Authorization/i);
    const other = await fetch(`${server.baseUrl}/toolsets.v1.ToolsetService/ListToolsets`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example.com", "access-control-request-method": "POST" },
    });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("protocol detection", () => {
  it("closes a connection that never says which protocol it speaks", async () => {
    const { createDualServer } = await import("../server/platform/server.js");
    const { connect } = await import("node:net");
    const dual = createDualServer((_req, res) => res.end(), { detectTimeoutMs: 200 });
    const addr = await dual.listen(0, "127.0.0.1");
    try {
      const closed = await new Promise<boolean>((resolve) => {
        const s = connect(addr.port, "127.0.0.1", () => s.write("P"));
        s.on("close", () => resolve(true));
        s.on("error", () => undefined);
        setTimeout(() => resolve(false), 5_000);
      });
      expect(closed).toBe(true);
    } finally {
      await dual.shutdown(100);
    }
  });
});
