import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { SERVICES } from "../server/app.js";
import { migrate, readMigrations } from "../server/db/migrator.js";
import { createLogger } from "../server/platform/logging.js";
import { createEmptyDatabase } from "../server/testing/database.js";
import { startTcpProxy, type TcpProxy } from "../server/testing/tcp-proxy.js";
import { startTestServer } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";

// Set by the server's setup below; undefined only if that setup failed.
let proxy!: TcpProxy;

// The server reaches its database through a proxy the tests can cut.
const { server } = useTestServer({
  serverUrl: async (database) => {
    const target = new URL(database.url);
    const started = await startTcpProxy(target.hostname, Number(target.port || 5432));
    proxy = started;
    target.hostname = "127.0.0.1";
    target.port = String(started.port);
    return target.toString();
  },
});
afterAll(async () => {
  await proxy?.close(); // unset when the setup failed
});

async function readyz(): Promise<number> {
  return (await fetch(`${server.baseUrl}/readyz`)).status;
}

describe("health", () => {
  it("gRPC Check answers SERVING for the server and for a named service", async () => {
    const client = server.client(Health, "grpc");
    expect((await client.check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    for (const service of SERVICES)
      expect((await client.check({ service: service.typeName })).status, service.typeName).toBe(HealthCheckResponse_ServingStatus.SERVING);
    await expect(client.check({ service: "no.Such" })).rejects.toThrow(/unknown service/);
  });

  it("an unknown service name of 60,000 characters is NOT_FOUND on gRPC (the echo is cut to fit a header)", async () => {
    const err = await server
      .client(Health, "grpc")
      .check({ service: "x".repeat(60_000) })
      .catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.NotFound);
    expect((err as ConnectError).rawMessage.length).toBeLessThan(300);
  });

  it("Watch streams the current status", async () => {
    const ac = new AbortController();
    const stream = server.client(Health, "grpc").watch({}, { signal: ac.signal });
    for await (const res of stream) {
      expect(res.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
      break;
    }
    ac.abort();
  });

  it("/readyz answers 503 while the database is unreachable and 200 once it is back", async () => {
    expect(await readyz()).toBe(200);
    await proxy.cut();
    expect(await readyz()).toBe(503);
    expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
    await proxy.restore();
    await expect.poll(readyz, { timeout: 10_000, interval: 200 }).toBe(200);
  });

  it("/readyz answers 503 until the database's migrations are all applied, then 200", async () => {
    const empty = await createEmptyDatabase();
    const lines: string[] = [];
    const unmigrated = await startTestServer(empty.url, { logger: createLogger("info", { write: (s: string) => lines.push(s) }) });
    const notReady = () => lines.map((l) => JSON.parse(l) as { msg: string; reason?: string }).filter((l) => l.msg === "not ready");
    try {
      const status = async () => (await fetch(`${unmigrated.baseUrl}/readyz`)).status;
      expect(await status()).toBe(503);
      const files = await readMigrations();
      expect(files.length).toBeGreaterThan(1);
      // One migration short of current is not ready either.
      await migrate(empty.url, { upTo: files[files.length - 2]!.name });
      expect(await status()).toBe(503);
      expect(await status()).toBe(503);
      // Why, once per change of reason: first every migration, then the last one.
      expect(notReady().map((l) => l.reason)).toEqual([
        `migrations not applied: ${files.map((f) => f.name).join(", ")}`,
        `migrations not applied: ${files[files.length - 1]!.name}`,
      ]);
      await migrate(empty.url);
      expect(await status()).toBe(200);
    } finally {
      await unmigrated.close();
      await empty.drop();
    }
  });
});
