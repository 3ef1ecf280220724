import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ToolsetService } from "../gen/toolsets/v1/toolsets_pb.js";
import { clampTimeoutHeaders, MAX_TIMER_MS, timeoutMsFrom } from "../server/platform/request-context.js";
import { bearer } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";

// Issue 11, item 6: a deadline longer than a Node.js timer can hold is no
// deadline in practice; it must neither be refused nor arm an overflowing timer
// (Node fires those at once, with a TimeoutOverflowWarning).

const { server, tenant } = useTestServer({ tenants: 1 });

const warnings: Error[] = [];
const onWarning = (w: Error) => warnings.push(w);
beforeAll(() => void process.on("warning", onWarning));
afterAll(() => void process.off("warning", onWarning));

describe("client timeouts", () => {
  it("reads grpc-timeout and connect-timeout-ms, clamping what no timer can hold", () => {
    expect(timeoutMsFrom({ "grpc-timeout": "500m" })).toBe(500);
    expect(timeoutMsFrom({ "grpc-timeout": "2S" })).toBe(2000);
    expect(timeoutMsFrom({ "connect-timeout-ms": "750" })).toBe(750);
    expect(timeoutMsFrom({ "grpc-timeout": "99999999H" })).toBe(MAX_TIMER_MS);
    expect(timeoutMsFrom({ "connect-timeout-ms": "9999999999" })).toBe(MAX_TIMER_MS);
    expect(timeoutMsFrom({ "grpc-timeout": "5x" })).toBeUndefined();
    const headers: Record<string, string> = { "grpc-timeout": "99999999H" };
    clampTimeoutHeaders(headers);
    expect(timeoutMsFrom(headers)).toBeLessThanOrEqual(MAX_TIMER_MS);
    expect(headers["grpc-timeout"]).toMatch(/^\d{1,8}[HMSmun]$/);
  });

  it("a gRPC call with grpc-timeout 99999999H answers OK, with no TimeoutOverflowWarning", async () => {
    const client = createClient(
      ToolsetService,
      createGrpcTransport({
        baseUrl: server.baseUrl,
        interceptors: [
          (next) => (req) => {
            req.header.set("grpc-timeout", "99999999H");
            return next(req);
          },
        ],
      }),
    );
    const res = await client.listToolsets({ project: tenant.project }, bearer(tenant.producerKey));
    expect(res.toolsets).toBeDefined();
    await new Promise((r) => setTimeout(r, 50)); // warnings are emitted on the next tick
    expect(warnings.filter((w) => w.name === "TimeoutOverflowWarning")).toEqual([]);
  });

  it("a Connect call with connect-timeout-ms 9999999999 answers OK, with no TimeoutOverflowWarning", async () => {
    const res = await fetch(`${server.baseUrl}/toolsets.v1.ToolsetService/ListToolsets`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-timeout-ms": "9999999999", authorization: `Bearer ${tenant.producerKey}` },
      body: JSON.stringify({ project: tenant.project }),
    });
    expect(res.status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    expect(warnings.filter((w) => w.name === "TimeoutOverflowWarning")).toEqual([]);
  });
});
