import { spawn } from "node:child_process";
import { connect } from "node:net";
import { ConnectError } from "@connectrpc/connect";
import pg from "pg";
import { describe, expect, it, onTestFinished } from "vitest";
import { ToolsetService } from "../gen/toolsets/v1/toolsets_pb.js";
import { bearer } from "../server/testing/server.js";
import { startServerProcess } from "../server/testing/server-process.js";
import { useTestServer } from "../server/testing/use-test-server.js";

// The servers under test are processes of their own; the in-process one only seeds the tenant.
const { database, tenant } = useTestServer({ tenants: 1 });

function runToExit(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn("node_modules/.bin/tsx", ["server/main.ts"], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, stderr })));
}

function connectRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.once("error", (e: NodeJS.ErrnoException) => resolve(e.code === "ECONNREFUSED"));
  });
}

describe("process", () => {
  it.each([
    ["PORT", "abc"],
    ["PORT", "70000"],
    ["LOG_LEVEL", "loud"],
    ["DATABASE_URL", "mysql://x"],
    ["MIGRATE_ON_START", "maybe"],
    ["CORS_ALLOWED_ORIGINS", "https://a.example.com/path"],
  ])("a bad %s=%s stops start-up with a message naming it", async (name, value) => {
    const { code, stderr } = await runToExit({ DATABASE_URL: database.url, [name]: value });
    expect(code).toBe(2);
    expect(stderr).toContain(name);
  });

  it("SIGTERM lets an in-flight RPC finish, then refuses new connections and exits 0", async () => {
    const server = await startServerProcess({ DATABASE_URL: database.url });
    onTestFinished(() => server.stop()); // nothing to do once it has exited; stops it when the test fails before
    // Hold a lock the RPC's project lookup needs, so the call is in flight when SIGTERM arrives.
    const locker = new pg.Client({ connectionString: database.url });
    await locker.connect();
    await locker.query("BEGIN");
    await locker.query("LOCK TABLE projects IN ACCESS EXCLUSIVE MODE");
    const client = server.client(ToolsetService);
    const inFlight = client.listToolsets({ project: tenant.project }, bearer(tenant.consumerKey)).then(
      () => "ok" as const,
      (e: unknown) => ConnectError.from(e),
    );
    await expect
      .poll(
        async () => (await locker.query("SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND relation = 'projects'::regclass")).rows[0].n,
        {
          timeout: 10_000,
        },
      )
      .toBeGreaterThan(0);
    // To tsx alone, which passes it on (not stop(): that waits for the exit, which waits for the locked call).
    server.child.kill("SIGTERM");
    await expect.poll(() => connectRefused(server.port), { timeout: 10_000 }).toBe(true);
    await locker.query("COMMIT");
    await locker.end();
    // The call completed with a real answer rather than a broken connection.
    expect(await inFlight).toBe("ok");
    expect(await server.exited).toBe(0);
    expect(server.output()).toContain('"msg":"shutting down"');
  });
});
