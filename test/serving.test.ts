import { Code, ConnectError, type Client } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReleaseService, Target } from "../gen/releases/v1/releases_pb.js";
import { ToolsetService } from "../gen/toolsets/v1/toolsets_pb.js";
import { createApiKey, revokeApiKey } from "../server/auth/keys.js";
import { bearer, failure, startTestServer } from "../server/testing/server.js";
import { startServerProcess, type ServerProcess } from "../server/testing/server-process.js";
import { driver } from "../server/testing/driver.js";
import { httpTool, uniqueSlug } from "../server/testing/fixtures.js";
import { startTcpProxy } from "../server/testing/tcp-proxy.js";
import { useTestServer } from "../server/testing/use-test-server.js";

const { database, server, tenant, api } = useTestServer({ tenants: 1 });

/** Polls `probe` until it returns true; fails after `ms`. */
async function until(what: string, probe: () => Promise<boolean> | boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Runs SQL on the test database from a connection of its own: a write by "another replica". */
async function sqlElsewhere(text: string, values: unknown[] = []): Promise<void> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    await client.query(text, values);
  } finally {
    await client.end();
  }
}

/** A toolset in iteration mode over a fresh deployment of `tools` tools; returns its slug and id. */
async function iterationToolset(tools = 3): Promise<{ slug: string; id: string }> {
  const names = Array.from({ length: tools }, (_, i) => uniqueSlug(`tool${i}`).replace(/-/g, "_"));
  await api.deploy(names.map((n) => httpTool(n)));
  const slug = uniqueSlug("ts");
  const toolset = await api.createToolset(slug, names);
  return { slug, id: toolset.id };
}

describe("served state", () => {
  it("a steady-state resolve runs no SQL statement, over every protocol, by slug and by mcp_slug", async () => {
    const { slug } = await iterationToolset();
    const mcpSlug = uniqueSlug("mcp");
    await api.editLive(slug, { mcpSlug });
    for (const protocol of ["connect-json", "connect-binary", "grpc", "grpc-web"] as const) {
      const client = api.with({ protocol });
      const first = await client.resolveToolset({ slug });
      await client.resolveToolset({ mcpSlug });
      server.queries.length = 0;
      for (let i = 0; i < 5; i++) {
        expect((await client.resolveToolset({ slug })).resolved?.etag).toBe(first.resolved?.etag);
        expect((await client.resolveToolset({ mcpSlug })).resolved?.etag).toBe(first.resolved?.etag);
        expect((await client.resolveToolset({ slug, ifNoneMatch: first.resolved!.etag })).notModified).toBe(true);
      }
      expect(server.queries, protocol).toEqual([]);
    }
  });

  it("the first resolve after a notice runs as many statements for 500 tools as for 10", async () => {
    const statementsAfterNotice = async (tools: number) => {
      const { slug, id } = await iterationToolset(tools);
      await api.resolveToolset({ slug });
      const notices = server.app.context.listener!.stats.notices;
      await sqlElsewhere("UPDATE toolsets SET description = $1 WHERE id = $2", [uniqueSlug("d"), id]);
      await until("the notice", () => server.app.context.listener!.stats.notices > notices);
      server.queries.length = 0;
      const res = await api.resolveToolset({ slug });
      expect(res.resolved?.tools).toHaveLength(tools);
      const count = server.queries.length;
      server.queries.length = 0;
      await api.resolveToolset({ slug });
      expect(server.queries).toEqual([]);
      return count;
    };
    const small = await statementsAfterNotice(10);
    expect(small).toBeGreaterThan(0);
    expect(await statementsAfterNotice(500)).toBe(small);
  }, 60_000);

  it("a notice that arrives while a resolve reads leaves no stale entry", async () => {
    // A server of its own whose fills stop between their read and their store when told to.
    let hold: { reached: () => void; release: Promise<void> } | undefined;
    const racing = await startTestServer(database.url, {
      beforeStore: async (key) => {
        if (!hold || !key.startsWith("resolve:")) return;
        const h = hold;
        hold = undefined;
        h.reached();
        await h.release;
      },
    });
    try {
      const { slug, id } = await iterationToolset();
      const client = racing.client(ReleaseService);
      let reached!: () => void;
      const readDone = new Promise<void>((r) => (reached = r));
      let release!: () => void;
      hold = { reached, release: new Promise<void>((r) => (release = r)) };
      const racingResolve = client.resolveToolset({ project: tenant.project, slug }, api.key);
      await readDone; // the fill has read the old description
      const notices = racing.app.context.listener!.stats.notices;
      await sqlElsewhere("UPDATE toolsets SET description = 'after the race' WHERE id = $1", [id]);
      await until("the notice", () => racing.app.context.listener!.stats.notices > notices);
      release(); // now the fill tries to store what it read
      expect((await racingResolve).resolved?.description).not.toBe("after the race");
      expect(racing.app.context.served.stats.discardedFills).toBeGreaterThan(0);
      const after = await client.resolveToolset({ project: tenant.project, slug }, api.key);
      expect(after.resolved?.description).toBe("after the race");
    } finally {
      await racing.close();
    }
  });

  it("reads its own writes: a publish, then a resolve on the same process, always sees the new release", async () => {
    // Its notices come 300 ms late: only the writer's own drop can make the next read fresh.
    const slowLink = await startTcpProxy("127.0.0.1", Number(new URL(database.url).port || 5432), { delayMs: 300 });
    const listenUrl = new URL(database.url);
    listenUrl.port = String(slowLink.port);
    const replica = await startTestServer(database.url, { listenUrl: listenUrl.toString() });
    try {
      const own = driver(replica, tenant);
      const slug = uniqueSlug("ryw");
      await own.deploy([httpTool("ryw_tool")]);
      await own.staged(slug, ["ryw_tool"]);
      for (let i = 0; i < 5; i++) {
        await own.resolve(slug);
        await own.resolve(slug); // held in memory now
        await own.editStaging(slug, { description: `edit ${i}` });
        const release = await own.publish(slug);
        const served = await own.resolve(slug);
        expect(served.releaseNumber).toBe(release.releaseNumber);
        expect(served.description).toBe(`edit ${i}`);
        expect(served.etag).toBe(release.etag);
      }
      await own.resolve(slug);
      const rolledBack = await own.rollback(slug, 2n);
      expect(rolledBack.currentReleaseNumber).toBe(2n);
      expect((await own.resolve(slug)).releaseNumber).toBe(2n);
      expect(replica.app.context.served.stats.hits).toBeGreaterThan(0);
    } finally {
      await replica.close();
      await slowLink.close();
    }
  });

  it("serves from the database while the change feed is cut, and from memory again once it is back, never stale", async () => {
    const proxy = await startTcpProxy("127.0.0.1", Number(new URL(database.url).port || 5432));
    const listenUrl = new URL(database.url);
    listenUrl.hostname = "127.0.0.1";
    listenUrl.port = String(proxy.port);
    const replica = await startTestServer(database.url, { listenUrl: listenUrl.toString(), listenerPingMs: 200 });
    try {
      const { slug, id } = await iterationToolset();
      const client = replica.client(ReleaseService);
      const listener = replica.app.context.listener!;
      let version = 0;
      let seen = 0;
      // Each edit commits elsewhere; the replica must show it within a bound and never go back.
      const editAndSee = async (bound: number) => {
        version++;
        const notices = listener.stats.notices;
        await sqlElsewhere("UPDATE toolsets SET description = $1 WHERE id = $2", [`v${version}`, id]);
        await until(
          `v${version}`,
          async () => {
            const shown = Number((await client.resolveToolset({ project: tenant.project, slug }, api.key)).resolved!.description.slice(1));
            expect(shown).toBeGreaterThanOrEqual(seen);
            seen = shown;
            return shown === version;
          },
          bound,
        );
        // A read may see the edit before its notice arrives; statement counts below must not race that notice.
        if (listener.stats.up) await until("the edit's notice", () => listener.stats.notices > notices);
      };
      const statementsOfOneResolve = async () => {
        replica.queries.length = 0;
        await client.resolveToolset({ project: tenant.project, slug }, api.key);
        return replica.queries.length;
      };

      await editAndSee(2_000);
      await statementsOfOneResolve();
      expect(await statementsOfOneResolve()).toBe(0);

      await proxy.cut();
      await until("the feed down", () => !listener.stats.up);
      expect(replica.app.context.served.enabled).toBe(false);
      for (let i = 0; i < 3; i++) await editAndSee(500);
      expect(await statementsOfOneResolve()).toBeGreaterThan(0); // no notices: every read goes to the database

      await proxy.restore();
      await until("the feed back", () => listener.stats.up);
      expect(listener.stats.reconnects).toBeGreaterThanOrEqual(1);
      await statementsOfOneResolve();
      expect(await statementsOfOneResolve()).toBe(0); // caching resumed
      for (let i = 0; i < 3; i++) await editAndSee(2_000);
    } finally {
      await replica.close();
      await proxy.close();
    }
  });
});

describe("two server processes on one database", () => {
  let serverB: ServerProcess | undefined;
  let other: Client<typeof ReleaseService>;

  beforeAll(async () => {
    serverB = await startServerProcess({ DATABASE_URL: database.url });
    other = serverB.client(ReleaseService);
  });
  afterAll(() => serverB?.stop());

  it("a publish on A is served by B", async () => {
    const slug = uniqueSlug("two");
    await api.deploy([httpTool("two_tool")]);
    await api.staged(slug, ["two_tool"]);
    const before = (await other.resolveToolset({ project: tenant.project, slug }, api.key)).resolved!;
    await other.resolveToolset({ project: tenant.project, slug }, api.key); // B holds it now
    for (let i = 0; i < 5; i++) {
      await api.editStaging(slug, { description: `published ${i}` });
      const release = await api.publish(slug);
      await until("B to serve the release", async () => {
        const res = await other.resolveToolset({ project: tenant.project, slug }, api.key);
        return res.resolved?.releaseNumber === release.releaseNumber;
      });
      expect((await other.resolveToolset({ project: tenant.project, slug }, api.key)).resolved?.etag).toBe(release.etag);
    }
    expect(before.releaseNumber).toBe(1n);
  });

  it("a key revoked on A is refused by B", async () => {
    const { slug } = await iterationToolset();
    const name = uniqueSlug("revoked");
    const key = await createApiKey(server.db, { org: tenant.org, scope: "consumer", name });
    await other.resolveToolset({ project: tenant.project, slug }, bearer(key.key));
    await other.resolveToolset({ project: tenant.project, slug }, bearer(key.key)); // B holds the caller now
    await revokeApiKey(server.db, { org: tenant.org, name });
    await until("B to refuse the key", async () => {
      const res = await failure(other.resolveToolset({ project: tenant.project, slug }, bearer(key.key))).catch(() => undefined);
      return res?.code === Code.Unauthenticated;
    });
    // And A too, at once (it wrote the revocation through the same database, and heard of it).
    await until("A to refuse the key", async () => {
      const res = await failure(api.releases().resolveToolset({ project: tenant.project, slug }, bearer(key.key))).catch(() => undefined);
      return res?.code === Code.Unauthenticated;
    });
  });

  it("an edit on B reaches a watcher on A", async () => {
    const { slug } = await iterationToolset();
    const abort = new AbortController();
    const stream = api.releases().watchToolset({ project: tenant.project, slug }, { ...api.key, signal: abort.signal });
    const iterator = stream[Symbol.asyncIterator]();
    try {
      const first = await iterator.next();
      expect(first.value?.resolved?.slug).toBe(slug);
      const toolsets = serverB!.client(ToolsetService);
      await toolsets.updateToolset(
        { project: tenant.project, slug, fields: { description: "edited on B" }, updateMask: { paths: ["description"] } },
        api.key,
      );
      const next = await Promise.race([
        iterator.next(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no message within 5 s")), 5_000)),
      ]);
      expect(next.value?.resolved?.description).toBe("edited on B");
      expect(next.value?.etag).not.toBe(first.value?.etag);
    } finally {
      abort.abort();
      await iterator.return?.().catch((e: unknown) => expect(ConnectError.from(e).code).toBe(Code.Canceled));
    }
  });

  it("B resolves the staging target and releases too, from the same feed", async () => {
    const slug = uniqueSlug("stg");
    await api.deploy([httpTool("stg_tool")]);
    await api.staged(slug, ["stg_tool"]);
    await other.resolveToolset({ project: tenant.project, slug, target: Target.STAGING }, api.key);
    await api.editStaging(slug, { description: "staged edit" });
    await until("B to serve the staged edit", async () => {
      const res = await other.resolveToolset({ project: tenant.project, slug, target: Target.STAGING }, api.key);
      return res.resolved?.description === "staged edit";
    });
  });
});
