import * as http2 from "node:http2";
import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { ServerReflection, ServerReflectionRequestSchema } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { startTestServer, type Protocol } from "../server/testing/server.js";
import { useTestDatabase } from "../server/testing/use-test-server.js";

const database = useTestDatabase();

/** Reads a response stream to its end, calling `each` per message: "ended", or "failed: …". */
async function readToEnd<T>(stream: AsyncIterable<T>, each: (message: T) => void): Promise<string> {
  try {
    for await (const message of stream) each(message);
    return "ended";
  } catch (e) {
    return `failed: ${String(e)}`;
  }
}

/** Milliseconds `p` takes. */
async function timed(p: Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await p;
  return performance.now() - t0;
}

describe("shutdown with open streams", () => {
  it.each<[string, Protocol]>([
    ["Connect over HTTP/1.1", "connect-json"],
    ["gRPC over h2c", "grpc"],
  ])("a Health/Watch open over %s ends at once and shutdown does not wait for it", async (_name, protocol) => {
    const server = await startTestServer(database.url, { shutdownTimeoutMs: 20_000 });
    const statuses: HealthCheckResponse_ServingStatus[] = [];
    let first!: () => void;
    const gotFirst = new Promise<void>((r) => (first = r));
    const watching = readToEnd(server.client(Health, protocol).watch({}), (res) => {
      statuses.push(res.status);
      first();
    });
    try {
      await gotFirst;
      expect(await timed(server.app.shutdown())).toBeLessThan(3_000);
      // The client heard NOT_SERVING, then a clean end of stream.
      expect(await watching).toBe("ended");
      expect(statuses).toEqual([HealthCheckResponse_ServingStatus.SERVING, HealthCheckResponse_ServingStatus.NOT_SERVING]);
    } finally {
      await server.close().catch(() => undefined);
    }
  });

  it("a reflection stream the client keeps open (grpcui, Postman) ends at once, without waiting for the client's next request", async () => {
    const server = await startTestServer(database.url, { shutdownTimeoutMs: 20_000 });
    let first!: () => void;
    const gotFirst = new Promise<void>((r) => (first = r));
    const clientDone = new AbortController();
    // Asks once, then keeps its side open until the server's answer ends (as a
    // client does that would ask more), so only the server can end the call.
    async function* requests() {
      yield create(ServerReflectionRequestSchema, { messageRequest: { case: "listServices", value: "" } });
      await new Promise((r) => clientDone.signal.addEventListener("abort", r));
    }
    const reflecting = readToEnd(server.client(ServerReflection, "grpc").serverReflectionInfo(requests()), (res) => {
      if (res.messageResponse.case === "listServicesResponse") first();
    }).finally(() => clientDone.abort());
    try {
      await gotFirst;
      expect(await timed(server.app.shutdown())).toBeLessThan(3_000);
      expect(await reflecting).toBe("ended");
    } finally {
      clientDone.abort();
      await server.close().catch(() => undefined);
    }
  });

  it("a raw h2c stream whose client never reads or closes does not hold shutdown past SHUTDOWN_TIMEOUT_MS", async () => {
    const server = await startTestServer(database.url, { shutdownTimeoutMs: 1_000 });
    const session = http2.connect(server.baseUrl);
    session.on("error", () => undefined);
    try {
      // A gRPC Watch request whose client never ends its side and ignores any answer.
      const stream = session.request({
        ":method": "POST",
        ":path": "/grpc.health.v1.Health/Watch",
        "content-type": "application/grpc",
        te: "trailers",
      });
      stream.on("error", () => undefined);
      stream.write(Buffer.from([0, 0, 0, 0, 0]));
      stream.pause();
      await expect.poll(() => server.app.server.inFlight()).toBe(1);
      expect(await timed(server.app.shutdown())).toBeLessThan(3_000);
    } finally {
      session.destroy();
      await server.close().catch(() => undefined);
    }
  });
});

describe("many calls at once", () => {
  it("print no MaxListenersExceededWarning: every call and Watch listens on the shutdown signal while it runs", async () => {
    const server = await startTestServer(database.url);
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on("warning", onWarning);
    // One controller per call: the client side must not be what warns.
    const stops = Array.from({ length: 15 }, () => new AbortController());
    try {
      const health = server.client(Health, "grpc");
      const watches = stops.map(async (stop) => {
        try {
          for await (const _ of health.watch({}, { signal: stop.signal })) void _;
        } catch {
          // aborted below
        }
      });
      await Promise.all(Array.from({ length: 40 }, () => health.check({})));
      for (const stop of stops) stop.abort();
      await Promise.all(watches);
      // Warnings are emitted on the next tick.
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.startsWith("MaxListenersExceededWarning"))).toEqual([]);
    } finally {
      process.off("warning", onWarning);
      await server.close();
    }
  });
});
