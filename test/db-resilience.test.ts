import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { ReleaseService, Target } from "../gen/releases/v1/releases_pb.js";
import { ToolsetService, UpdateToolsetRequestSchema } from "../gen/toolsets/v1/toolsets_pb.js";
import { inTransaction } from "../server/db/transaction.js";
import { runInRequest, type RequestContext } from "../server/platform/request-context.js";
import { createTenant, uniqueSlug, type Tenant } from "../server/testing/fixtures.js";
import { attempt, bearer, rawGrpcStatus, startTestServer, type ServerOverrides, type TestServer } from "../server/testing/server.js";
import { startTcpProxy, type TcpProxy } from "../server/testing/tcp-proxy.js";
import { useTestDatabase } from "../server/testing/use-test-server.js";

// Each describe starts a server of its own over this database, with the bounds
// it tests set short, so the file stays fast.
const database = useTestDatabase();

/** Connections of other applications: they lock rows and tables, and look at pg_stat_activity. */
const outsiders: pg.Client[] = [];
afterAll(async () => {
  await Promise.all(outsiders.map((c) => c.end().catch(() => undefined)));
});

async function outsider(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: database.url, application_name: "db-resilience-test" });
  await client.connect();
  outsiders.push(client);
  return client;
}

/** A transaction from outside that holds a lock until `release()` (ROLLBACK). */
async function holdLock(sql: string, params: unknown[] = []): Promise<{ release(): Promise<void> }> {
  const client = await outsider();
  await client.query("BEGIN");
  await client.query(sql, params);
  let held = true;
  return {
    release: async () => {
      if (held) await client.query("ROLLBACK");
      held = false;
    },
  };
}

/** Holds the row lock of live toolset `slug`, as a long write elsewhere would. */
const lockToolset = (slug: string) => holdLock("SELECT id FROM toolsets WHERE slug = $1 AND parent_toolset_id IS NULL FOR UPDATE", [slug]);

/** Backends of the service's pool waiting on a lock now. */
async function waitingOnLocks(): Promise<number> {
  const client = await watcher();
  const { rows } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
     WHERE datname = current_database() AND application_name = 'toolset-release-service' AND wait_event_type = 'Lock'`,
  );
  return rows[0]!.n;
}

let watching: Promise<pg.Client> | undefined;
const watcher = () => (watching ??= outsider());

/** The live toolset's name as stored (committed), read from outside. */
async function storedName(slug: string): Promise<string | undefined> {
  const { rows } = await (
    await watcher()
  ).query<{ name: string }>("SELECT name FROM toolsets WHERE slug = $1 AND parent_toolset_id IS NULL AND deleted_at IS NULL", [slug]);
  return rows[0]?.name;
}

/** The error of a call that must fail. */
async function rejection(p: Promise<unknown>): Promise<ConnectError> {
  const result = await p.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  if (!result) throw new Error("expected the call to fail");
  return result;
}

/** ErrorInfo reason and metadata, and whether a RetryInfo came along. */
function refusal(err: ConnectError) {
  const info = err.findDetails(ErrorInfoSchema)[0];
  return { code: err.code, reason: info?.reason, metadata: { ...info?.metadata }, retryInfo: err.findDetails(RetryInfoSchema).length === 1 };
}

/** A server of its own, with `tenant` and helpers to write and read as it. */
function useServer(overrides: ServerOverrides, serverUrl?: () => Promise<string>) {
  let server: TestServer | undefined;
  let tenant: Tenant | undefined;
  beforeAll(async () => {
    server = await startTestServer(serverUrl ? await serverUrl() : database.url, overrides);
    tenant = await createTenant(server.db);
  });
  afterAll(async () => {
    await server?.close();
  });
  const s = () => server ?? fail("no server");
  const t = () => tenant ?? fail("no tenant");
  const toolsets = () => s().client(ToolsetService);
  return {
    server: s,
    tenant: t,
    createToolset: async (slug: string) => {
      await toolsets().createToolset({ project: t().project, name: slug, slug }, bearer(t().producerKey));
    },
    rename: (slug: string, name: string) =>
      toolsets().updateToolset({ project: t().project, slug, fields: { name }, updateMask: { paths: ["name"] } }, bearer(t().producerKey)),
    get: (slug: string) => toolsets().getToolset({ project: t().project, slug }, bearer(t().consumerKey)),
    resolve: (slug: string) =>
      s().client(ReleaseService).resolveToolset({ project: t().project, slug, target: Target.LIVE }, bearer(t().consumerKey)),
    readyz: async () => (await fetch(`${s().baseUrl}/readyz`)).status,
  };
}

function fail(message: string): never {
  throw new Error(message);
}

describe("row locks", () => {
  const api = useServer({ dbLockTimeoutMs: 300 });

  it("a write waiting on a row locked elsewhere fails ABORTED LOCK_TIMEOUT with a retry hint, then succeeds once the lock is gone", async () => {
    const slug = uniqueSlug("locked");
    await api.createToolset(slug);
    const lock = await lockToolset(slug);
    const err = await rejection(api.rename(slug, "while locked"));
    expect(refusal(err)).toMatchObject({ code: Code.Aborted, reason: "LOCK_TIMEOUT", retryInfo: true });
    await lock.release();
    expect((await api.rename(slug, "after the lock")).toolset?.name).toBe("after the lock");
  });
});

describe("a busy pool", () => {
  // 3 connections, writes may hold 2, 1 checkout may wait, 500 ms for a connection or a write permit.
  const api = useServer({
    dbPoolMax: 3,
    dbWriteConnections: 2,
    dbPoolQueueMax: 1,
    dbConnectTimeoutMs: 500,
    dbLockTimeoutMs: 10_000,
    // Every read goes to the database, so reads need connections too.
    servedStateMaxBytes: 0,
  });

  it("writes queued on a locked row hold at most DB_WRITE_CONNECTIONS; the rest are refused as overloaded; reads and /readyz go on", async () => {
    const locked = uniqueSlug("hot");
    const other = uniqueSlug("cold");
    await api.createToolset(locked);
    await api.createToolset(other);
    const lock = await lockToolset(locked);
    const writes = [1, 2, 3, 4].map((i) => attempt(api.rename(locked, `write ${i}`)));
    const settled: Array<Awaited<(typeof writes)[number]>> = [];
    for (const w of writes) void w.then((r) => settled.push(r));
    await expect.poll(waitingOnLocks).toBe(2);
    // The two without a permit give up after DB_CONNECT_TIMEOUT_MS, while the other two still wait on the lock.
    await expect.poll(() => settled.length, { timeout: 5_000 }).toBe(2);
    for (const r of settled) expect(r).toMatchObject({ ok: false, code: Code.ResourceExhausted });
    // What such a refusal carries, on one more.
    const err = await rejection(api.rename(locked, "one more"));
    expect(refusal(err)).toEqual({
      code: Code.ResourceExhausted,
      reason: "OVERLOADED",
      metadata: { resource: "db_write_connections" },
      retryInfo: true,
    });
    // A connection is left for reads, and readiness has its own.
    expect((await api.get(other)).toolset?.slug).toBe(other);
    expect(await api.readyz()).toBe(200);
    expect(await waitingOnLocks()).toBe(2);
    await lock.release();
    const results = await Promise.all(writes);
    expect(results.filter((r) => r.ok)).toHaveLength(2);
    expect(await storedName(locked)).toMatch(/^write [1-4]$/);
  });

  it("past DB_POOL_QUEUE_MAX waiting checkouts a call is refused at once; one that waits in vain is overloaded, not unavailable; /readyz stays 200", async () => {
    const slug = uniqueSlug("table");
    await api.createToolset(slug);
    // Every read of a toolset now waits, each holding a pool connection.
    const lock = await holdLock("LOCK TABLE toolsets IN ACCESS EXCLUSIVE MODE");
    const held = [1, 2, 3].map(() => attempt(api.get(slug)));
    await expect.poll(waitingOnLocks).toBe(3);
    expect(await api.readyz()).toBe(200);

    let queuedDone = false;
    const queued = attempt(api.get(slug)).finally(() => (queuedDone = true));
    await expect.poll(() => api.server().pool.waitingCount).toBe(1);
    const refused = await Promise.all([rejection(api.get(slug)), rejection(api.get(slug))]);
    // Refused while the one allowed to wait still waits: at once, not after a timeout.
    expect(queuedDone).toBe(false);
    for (const err of refused) {
      expect(refusal(err)).toEqual({ code: Code.ResourceExhausted, reason: "OVERLOADED", metadata: { resource: "db_connections" }, retryInfo: true });
      expect(err.rawMessage).toMatch(/overloaded/);
    }
    expect(await queued).toMatchObject({ ok: false, code: Code.ResourceExhausted, message: expect.stringMatching(/overloaded/) });

    // A deadline shorter than DB_CONNECT_TIMEOUT_MS ends the wait for a connection (Connect, no client-side timer).
    const started = performance.now();
    const res = await fetch(`${api.server().baseUrl}/toolsets.v1.ToolsetService/GetToolset`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "connect-protocol-version": "1",
        "connect-timeout-ms": "200",
        authorization: `Bearer ${api.tenant().consumerKey}`,
      },
      body: JSON.stringify({ project: api.tenant().project, slug }),
    });
    // The code alone proves the wait ended at the deadline (a connect timeout would answer resource_exhausted);
    // the bound is only that it did not wait for that timeout (dbConnectTimeoutMs, 5 s here).
    expect(((await res.json()) as { code: string }).code).toBe("deadline_exceeded");
    expect(performance.now() - started).toBeLessThan(3_000);

    await lock.release();
    for (const r of await Promise.all(held)) expect(r.ok).toBe(true);
    expect((await api.get(slug)).toolset?.slug).toBe(slug);
  });
});

describe("deadlines and cancellation", () => {
  // The lock timeout is far away: only the deadline or the cancellation can end the wait.
  const api = useServer({ dbLockTimeoutMs: 20_000 });

  /** Renames `slug` while its row is locked elsewhere through `call`; checks the backend stops waiting and nothing commits. */
  async function blockedRename(call: (slug: string) => Promise<void>): Promise<void> {
    const slug = uniqueSlug("deadline");
    await api.createToolset(slug);
    const lock = await lockToolset(slug);
    try {
      await call(slug);
      // Cancelled in PostgreSQL, not left to wait for the lock (20 s) or a statement timeout.
      await expect.poll(waitingOnLocks, { timeout: 2_000 }).toBe(0);
    } finally {
      await lock.release();
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(await storedName(slug)).toBe(slug);
  }

  const body = (slug: string) => ({ project: api.tenant().project, slug, fields: { name: "too late" }, updateMask: { paths: ["name"] } });

  it("Connect: a write blocked by a locked row answers DEADLINE_EXCEEDED near connect-timeout-ms, and does not commit", async () => {
    await blockedRename(async (slug) => {
      const started = performance.now();
      const res = await fetch(`${api.server().baseUrl}/toolsets.v1.ToolsetService/UpdateToolset`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "connect-protocol-version": "1",
          "connect-timeout-ms": "500",
          authorization: `Bearer ${api.tenant().producerKey}`,
        },
        body: JSON.stringify({ ...body(slug), updateMask: "name" }),
      });
      expect(((await res.json()) as { code: string }).code).toBe("deadline_exceeded");
      expect(performance.now() - started).toBeLessThan(2_000);
    });
  });

  it("gRPC: a write blocked by a locked row answers DEADLINE_EXCEEDED near grpc-timeout, and does not commit", async () => {
    await blockedRename(async (slug) => {
      const started = performance.now();
      const status = await rawGrpcStatus(
        api.server().baseUrl,
        "/toolsets.v1.ToolsetService/UpdateToolset",
        toBinary(UpdateToolsetRequestSchema, create(UpdateToolsetRequestSchema, body(slug))),
        { authorization: `Bearer ${api.tenant().producerKey}`, "grpc-timeout": "500m" },
      );
      expect(status).toBe(String(Code.DeadlineExceeded));
      expect(performance.now() - started).toBeLessThan(2_000);
    });
  });

  it("a client that goes away: its blocked write is cancelled in PostgreSQL and does not commit", async () => {
    await blockedRename(async (slug) => {
      const gone = new AbortController();
      const call = fetch(`${api.server().baseUrl}/toolsets.v1.ToolsetService/UpdateToolset`, {
        method: "POST",
        headers: { "content-type": "application/json", "connect-protocol-version": "1", authorization: `Bearer ${api.tenant().producerKey}` },
        body: JSON.stringify({ ...body(slug), updateMask: "name" }),
        signal: gone.signal,
      }).catch(() => undefined);
      await expect.poll(waitingOnLocks).toBe(1);
      gone.abort();
      await call;
    });
  });

  it("a resolve answers DEADLINE_EXCEEDED at its deadline; the fill it shares goes on for a caller with time left", async () => {
    const slug = uniqueSlug("shared");
    await api.createToolset(slug);
    const lock = await holdLock("LOCK TABLE toolsets IN ACCESS EXCLUSIVE MODE");
    try {
      const started = performance.now();
      const hurried = fetch(`${api.server().baseUrl}/releases.v1.ReleaseService/ResolveToolset`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "connect-protocol-version": "1",
          "connect-timeout-ms": "500",
          authorization: `Bearer ${api.tenant().consumerKey}`,
        },
        body: JSON.stringify({ project: api.tenant().project, slug, target: "TARGET_LIVE" }),
      });
      await expect.poll(waitingOnLocks).toBe(1);
      // Joins the fill under way (no second backend waits).
      const patient = attempt(api.resolve(slug));
      expect(((await (await hurried).json()) as { code: string }).code).toBe("deadline_exceeded");
      expect(performance.now() - started).toBeLessThan(2_000);
      let patientDone = false;
      void patient.finally(() => (patientDone = true));
      // The fill still waits for the lock, for the caller still waiting.
      expect(await waitingOnLocks()).toBe(1);
      expect(patientDone).toBe(false);
      await lock.release();
      expect(await patient).toMatchObject({ ok: true, value: { resolved: { slug } } });
    } finally {
      await lock.release();
    }
  });

  it("work of a request whose deadline has passed, or whose client left, does not start", async () => {
    const request = (init: Partial<RequestContext>): RequestContext => ({
      requestId: "test",
      clientAddress: "127.0.0.1",
      deadline: undefined,
      signal: new AbortController().signal,
      marks: { observed: false },
      ...init,
    });
    const server = api.server();
    const read = () => server.db.selectFrom("toolsets").select("id").limit(1).execute();
    const write = () => inTransaction(server.db, (trx) => trx.selectFrom("toolsets").select("id").limit(1).forUpdate().execute());
    const before = server.queries.length;
    const late = request({ deadline: performance.now() - 1 });
    expect((await rejection(runInRequest(late, read))).code).toBe(Code.DeadlineExceeded);
    expect((await rejection(runInRequest(late, write))).code).toBe(Code.DeadlineExceeded);
    const left = request({ signal: AbortSignal.abort() });
    expect((await rejection(runInRequest(left, read))).code).toBe(Code.Canceled);
    expect((await rejection(runInRequest(left, write))).code).toBe(Code.Canceled);
    expect(server.queries.length).toBe(before);
    // The same work with time left runs.
    expect(await runInRequest(request({ deadline: performance.now() + 5_000 }), write)).toBeInstanceOf(Array);
  });
});

describe("a silent database", () => {
  let proxy: TcpProxy | undefined;
  afterAll(async () => {
    await proxy?.close();
  });
  const api = useServer(
    // No change feed: this is about the pool's connections.
    { dbQueryTimeoutMs: 1_000, dbConnectTimeoutMs: 500, dbLockTimeoutMs: 20_000, servedStateMaxBytes: 0, listenUrl: undefined },
    async () => {
      const target = new URL(database.url);
      proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
      target.hostname = "127.0.0.1";
      target.port = String(proxy.port);
      return target.toString();
    },
  );

  it("calls in flight when the path goes silent fail UNAVAILABLE within about DB_QUERY_TIMEOUT_MS; once it is back calls succeed, without a restart", async () => {
    const slug = uniqueSlug("silent");
    await api.createToolset(slug);
    // A write in flight: waiting on a lock held elsewhere when the path goes silent.
    const lock = await lockToolset(slug);
    const write = attempt(api.rename(slug, "lost"));
    await expect.poll(waitingOnLocks, { interval: 10 }).toBe(1);
    proxy!.blackhole();
    const started = performance.now();
    expect(await write).toMatchObject({ ok: false, code: Code.Unavailable });
    expect(performance.now() - started).toBeLessThan(3_000);

    // New calls meanwhile: their statements (or new connections) get no answer either.
    const again = performance.now();
    expect(await attempt(api.get(slug))).toMatchObject({ ok: false, code: Code.Unavailable });
    expect(performance.now() - again).toBeLessThan(3_000);

    await lock.release();
    await proxy!.restore();
    await expect.poll(async () => (await attempt(api.get(slug))).ok, { timeout: 5_000, interval: 100 }).toBe(true);
    expect((await api.rename(slug, "after")).toolset?.name).toBe("after");
  });
});
