import { create, equals } from "@bufbuild/protobuf";
import { Code, type CallOptions } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  ReleaseService,
  ResolvedToolsetSchema,
  Target,
  WatchToolsetResponseSchema,
  type WatchToolsetRequestSchema,
} from "../gen/releases/v1/releases_pb.js";
import { EditingMode } from "../gen/toolsets/v1/toolsets_pb.js";
import { createApiKey, revokeApiKey } from "../server/auth/keys.js";
import { driver, type Driver } from "../server/testing/driver.js";
import { createTenant, httpTool as tool, uniqueSlug, urn, type InitObject } from "../server/testing/fixtures.js";
import { PROTOCOLS, startTestServer, type Protocol } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";
import { closeWatchersAfterEach, WATCH_WAIT_MS, Watcher } from "../server/testing/watcher.js";

// ReleaseService.WatchToolset (issue 9): the current state first, then one
// message per visible change and only then; NOT_FOUND when the toolset or the
// target goes away, UNAUTHENTICATED when the key is revoked, keepalives while
// nothing happens, one resolve per change however many watch, UNAVAILABLE at
// shutdown. Keepalives come every 200 ms here: every wait below skips them, so
// they also show that they never stand in for (or hide) a change.

const KEEPALIVE_MS = 200;
const { database, server, api } = useTestServer({ tenants: 1, server: { watchKeepaliveMs: KEEPALIVE_MS } });

closeWatchersAfterEach();

type WatchInit = Omit<InitObject<typeof WatchToolsetRequestSchema>, "project">;

/** Opens a watch as the driver's caller (its key, project and protocol). */
function watch(d: Driver, req: WatchInit, options: CallOptions = d.auth()): Watcher {
  return new Watcher((signal) => d.releases().watchToolset({ ...req, project: d.project }, { ...options, signal }));
}

/** A tenant of its own (its project's deployment is the test's alone), as its producer. */
async function fresh(protocol?: Protocol): Promise<Driver> {
  return api.with({ tenant: await createTenant(server.db), protocol });
}

/** Topic reloads of the server's watch hub so far. */
const refreshes = () => server.app.context.watches.stats.refreshes;

/** Waits until the hub has reloaded a topic since `before` (the write's notice has arrived). */
async function reloadedSince(before: number): Promise<void> {
  await expect.poll(refreshes, { timeout: WATCH_WAIT_MS, interval: 10 }).toBeGreaterThan(before);
}

describe("the first message", () => {
  it("is the current state, with its etag; equal to what ResolveToolset answers", async () => {
    const d = await fresh();
    const slug = uniqueSlug("first");
    await d.deploy([tool("a"), tool("b")]);
    await d.createToolset(slug, ["a", "b"]);
    const resolved = await d.resolve(slug);

    const w = watch(d, { slug });
    const first = await w.next();
    expect(first.notModified).toBe(false);
    expect(first.keepalive).toBe(false);
    expect(first.etag).toBe(resolved.etag);
    expect(first.resolved).toBeDefined();
    expect(equals(ResolvedToolsetSchema, first.resolved!, resolved)).toBe(true);
    await w.quiet();
  });

  it("with if_none_match equal to the current etag: not_modified and the etag, no state; a stale one gets the state", async () => {
    const d = await fresh();
    const slug = uniqueSlug("inm");
    await d.deploy([tool("a")]);
    await d.createToolset(slug, ["a"]);
    const { etag } = await d.resolve(slug);

    const same = watch(d, { slug, ifNoneMatch: etag });
    expect(await same.next()).toEqual(create(WatchToolsetResponseSchema, { notModified: true, etag }));

    const stale = watch(d, { slug, ifNoneMatch: "an-etag-of-long-ago" });
    const full = await stale.next();
    expect(full.notModified).toBe(false);
    expect(full.etag).toBe(etag);
    expect(full.resolved?.etag).toBe(etag);

    // Both then hear the next change in full.
    await d.editLive(slug, { description: "changed" });
    const after = await d.resolve(slug);
    for (const w of [same, stale]) {
      const m = await w.next();
      expect(m.notModified).toBe(false);
      expect(m.etag).toBe(after.etag);
      expect(equals(ResolvedToolsetSchema, m.resolved!, after)).toBe(true);
    }
  });

  it("of a toolset that does not exist: NOT_FOUND", async () => {
    const d = await fresh();
    const w = watch(d, { slug: "no-such-toolset" });
    const end = await w.end();
    expect(end.code).toBe(Code.NotFound);
    expect(end.message).toMatch(/no-such-toolset/);
  });
});

describe("changes", () => {
  it("writes that change nothing a watcher of live sees send nothing; the next visible change is the next message", async () => {
    const d = await fresh();
    const slug = uniqueSlug("quiet");
    const neighbour = uniqueSlug("neighbour");
    await d.deploy([tool("a"), tool("b")]);
    await d.staged(slug, ["a"]);
    await d.createToolset(neighbour, ["a", "b"]);

    const w = watch(d, { slug });
    const first = await w.next();

    // Another toolset of the same project.
    await d.editLive(neighbour, { description: "the neighbour changed" });
    await w.quiet();

    // The staging copy: live is the current release until a publish.
    let before = refreshes();
    await d.editStaging(slug, { description: "staged only", toolUrns: [urn("a"), urn("b")] });
    await d.stagingVariation(slug, "a", "staged variation");
    await reloadedSince(before);
    await w.quiet();

    // A deployment: live is pinned to release 1's sources.
    before = refreshes();
    await d.deploy([tool("a", { description: "a redeployed" }), tool("b"), tool("c")]);
    await reloadedSince(before);
    await w.quiet();

    // A global variation of a tool live does not select.
    before = refreshes();
    await d.globalVariation("b", "b everywhere");
    await reloadedSince(before);
    await w.quiet();

    expect((await d.resolve(slug)).etag).toBe(first.etag);
    const release = await d.publish(slug, "now visible");
    const m = await w.next();
    expect(m.etag).toBe(release.etag);
    expect(m.etag).not.toBe(first.etag);
    expect(m.resolved?.description).toBe("staged only");
    expect(m.resolved?.releaseNumber).toBe(2n);
  });

  it("in iteration mode, a deployment that leaves the selected tools as they were sends nothing", async () => {
    const d = await fresh();
    const slug = uniqueSlug("iter-deploy");
    await d.deploy([tool("a")]);
    await d.createToolset(slug, ["a"]);
    const w = watch(d, { slug });
    const first = await w.next();

    const before = refreshes();
    await d.deploy([tool("a"), tool("unselected")]);
    await reloadedSince(before);
    await w.quiet();

    // The same selected tool with new content is visible.
    await d.deploy([tool("a", { description: "a, better described" }), tool("unselected")]);
    const m = await w.next();
    expect(m.etag).not.toBe(first.etag);
    expect(m.resolved?.tools.map((t) => t.description)).toEqual(["a, better described"]);
  });

  it("one message per visible change, in order, with the new etag: an iteration-mode edit, a publish, a rollback", async () => {
    const d = await fresh();
    const slug = uniqueSlug("order");
    await d.deploy([tool("a"), tool("b")]);
    await d.createToolset(slug, ["a"]);
    const w = watch(d, { slug });
    const seen = [(await w.next()).etag];

    /** The next message, which must be the state ResolveToolset now answers. */
    const expectCurrent = async () => {
      const m = await w.next();
      const resolved = await d.resolve(slug);
      expect(m.etag).toBe(resolved.etag);
      expect(m.resolved?.etag).toBe(resolved.etag);
      expect(equals(ResolvedToolsetSchema, m.resolved!, resolved)).toBe(true);
      expect(seen).not.toContain(m.etag);
      seen.push(m.etag);
      return m;
    };

    await d.editLive(slug, { description: "iteration edit" });
    expect((await expectCurrent()).resolved?.description).toBe("iteration edit");

    // Switching to staging keeps the live etag (release 1 is what was live): nothing.
    const before = refreshes();
    await d.switchMode(slug, EditingMode.STAGING);
    await reloadedSince(before);
    await w.quiet();

    await d.editStaging(slug, { toolUrns: [urn("a"), urn("b")] });
    await d.publish(slug, "adds b");
    const published = await expectCurrent();
    expect(published.resolved?.releaseNumber).toBe(2n);
    expect(published.resolved?.tools.map((t) => t.urn)).toEqual([urn("a"), urn("b")]);

    await d.rollback(slug, 1n, "b was a mistake");
    const rolledBack = await w.next();
    expect(rolledBack.resolved?.releaseNumber).toBe(1n);
    expect(rolledBack.resolved?.tools.map((t) => t.urn)).toEqual([urn("a")]);
    // Release 1 is the state the first edit made: its etag again.
    expect(rolledBack.etag).toBe(seen[1]);
    expect(rolledBack.etag).toBe((await d.resolve(slug)).etag);
    await w.quiet();
  });

  it("mcp_slug, mcp_enabled and mcp_is_public changes each send a message, though the etag stays", async () => {
    const d = await fresh();
    const slug = uniqueSlug("mcp");
    await d.deploy([tool("a")]);
    await d.createToolset(slug, ["a"]);
    const w = watch(d, { slug });
    const { etag } = await w.next();

    await d.editLive(slug, { mcpSlug: "endpoint" });
    let m = await w.next();
    expect([m.etag, m.resolved?.mcpSlug, m.resolved?.mcpEnabled, m.resolved?.mcpIsPublic]).toEqual([etag, "endpoint", false, false]);

    await d.editLive(slug, { mcpEnabled: true });
    m = await w.next();
    expect([m.etag, m.resolved?.mcpSlug, m.resolved?.mcpEnabled, m.resolved?.mcpIsPublic]).toEqual([etag, "endpoint", true, false]);

    await d.editLive(slug, { mcpIsPublic: true });
    m = await w.next();
    expect([m.etag, m.resolved?.mcpSlug, m.resolved?.mcpEnabled, m.resolved?.mcpIsPublic]).toEqual([etag, "endpoint", true, true]);

    // Writing the same values again changes nothing.
    await d.editLive(slug, { mcpSlug: "endpoint", mcpEnabled: true, mcpIsPublic: true });
    await w.quiet();
  });

  it("a watcher of the staging target hears staging edits", async () => {
    const d = await fresh();
    const slug = uniqueSlug("stage-w");
    await d.deploy([tool("a")]);
    await d.staged(slug, ["a"]);
    const w = watch(d, { slug, target: Target.STAGING });
    const first = await w.next();
    await d.editStaging(slug, { description: "staged" });
    const m = await w.next();
    expect(m.etag).not.toBe(first.etag);
    expect(m.etag).toBe((await d.resolve(slug, Target.STAGING)).etag);
    expect(m.resolved?.description).toBe("staged");
  });
});

describe("the end of a watch", () => {
  it("NOT_FOUND when the toolset is deleted", async () => {
    const d = await fresh();
    const slug = uniqueSlug("doomed");
    await d.deploy([tool("a")]);
    await d.createToolset(slug, ["a"]);
    const w = watch(d, { slug });
    await w.next();
    await d.toolsets().deleteToolset({ project: d.project, slug }, d.auth());
    const end = await w.end();
    expect(end.code).toBe(Code.NotFound);
    expect(end.message).toMatch(slug);
  });

  it("NOT_FOUND when the staging copy is discarded while TARGET_STAGING is watched; a watcher of live goes on", async () => {
    const d = await fresh();
    const slug = uniqueSlug("discard");
    await d.deploy([tool("a")]);
    await d.staged(slug, ["a"]);
    const staging = watch(d, { slug, target: Target.STAGING });
    const live = watch(d, { slug });
    await staging.next();
    const liveFirst = await live.next();
    await d.discard(slug);
    const end = await staging.end();
    expect(end.code).toBe(Code.NotFound);
    expect(end.message).toMatch(/staging copy/);
    await live.quiet();
    expect((await d.resolve(slug)).etag).toBe(liveFirst.etag);
  });

  it("UNAUTHENTICATED when the caller's key is revoked; a watcher with another key goes on", async () => {
    const d = await fresh();
    const slug = uniqueSlug("revoked");
    await d.deploy([tool("a")]);
    await d.createToolset(slug, ["a"]);
    const doomed = await createApiKey(server.db, { org: d.tenant.org, scope: "consumer", name: uniqueSlug("doomed") });
    const w = watch(d.with({ apiKey: doomed.key }), { slug });
    const other = watch(d.with({ scope: "consumer" }), { slug });
    await w.next();
    await other.next();

    await revokeApiKey(server.db, { org: d.tenant.org, name: doomed.name });
    const end = await w.end();
    expect(end.code).toBe(Code.Unauthenticated);

    await d.editLive(slug, { description: "still watched" });
    expect((await other.next()).resolved?.description).toBe("still watched");
  });
});

describe("keepalive", () => {
  it("arrives when nothing else happens, with keepalive set and nothing else", async () => {
    const d = await fresh();
    const slug = uniqueSlug("idle");
    await d.deploy([tool("a")]);
    await d.createToolset(slug, ["a"]);
    const w = watch(d, { slug });
    await w.next();
    const count = w.keepalives.length;
    const t0 = performance.now();
    await w.until("two keepalives", () => (w.keepalives.length >= count + 2 ? true : undefined), 20 * KEEPALIVE_MS);
    // Not sooner than the keepalive period allows.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(KEEPALIVE_MS - 20);
    for (const k of w.keepalives) expect(k).toEqual(create(WatchToolsetResponseSchema, { keepalive: true }));
    await w.quiet(0);
  });
});

describe("many watchers", () => {
  it("200 concurrent watchers of one toolset cost one resolve per change, and all hear it", async () => {
    const d = await fresh("grpc");
    const slug = uniqueSlug("crowd");
    await d.deploy([tool("a"), tool("b")]);
    await d.createToolset(slug, ["a", "b"]);
    // The writes come from another process on the same database: this server
    // hears them on the change feed only, and runs nothing but the reloads.
    const replica = await startTestServer(database.url);
    try {
      const writer = driver(replica, d.tenant);
      const change = async (watchers: Watcher[], description: string) => {
        server.queries.length = 0;
        const before = refreshes();
        await writer.editLive(slug, { description });
        const expected = await writer.resolve(slug);
        const got = await Promise.all(watchers.map((w) => w.next(10_000)));
        for (const m of got) {
          expect(m.etag).toBe(expected.etag);
          expect(m.resolved?.description).toBe(description);
        }
        return { statements: [...server.queries], reloads: refreshes() - before };
      };

      // What one change costs with one watcher.
      const one = watch(d, { slug });
      await one.next();
      const single = await change([one], "for one");
      expect(single.reloads).toBe(1);
      one.close();
      await one.ended;

      const crowd = Array.from({ length: 200 }, () => watch(d, { slug }));
      const firsts = await Promise.all(crowd.map((w) => w.next(10_000)));
      expect(new Set(firsts.map((m) => m.etag)).size).toBe(1);
      expect(server.app.context.watches.stats.watchers).toBe(200);

      for (const description of ["for two hundred", "and again"]) {
        const many = await change(crowd, description);
        expect(many.reloads).toBe(1);
        expect(many.statements).toEqual(single.statements);
        // One read of the toolset row per change, not one per watcher.
        expect(many.statements.filter((s) => /from "toolsets"/i.test(s))).toHaveLength(1);
      }
      for (const w of crowd) await w.quiet(0);
    } finally {
      await replica.close();
    }
  }, 60_000);
});

describe.each(PROTOCOLS)("over %s", (protocol) => {
  it("the first message and a change, each equal to what ResolveToolset answers over the same protocol", async () => {
    const d = await fresh(protocol);
    const slug = uniqueSlug("proto");
    await d.deploy([tool("a", { inputSchema: { type: "object", properties: { id: { type: "string" } } } }), tool("b")]);
    await d.createToolset(slug, ["a", "b"]);
    await d.upsertVariation({ toolsetSlug: slug }, { srcToolUrn: urn("a"), title: "A, varied" });
    const w = watch(d, { slug });

    const first = await w.next();
    const before = await d.resolve(slug);
    expect(first.etag).toBe(before.etag);
    expect(equals(ResolvedToolsetSchema, first.resolved!, before)).toBe(true);

    await d.editLive(slug, { description: `over ${protocol}` });
    const m = await w.next();
    const after = await d.resolve(slug);
    expect(m.etag).toBe(after.etag);
    expect(m.etag).not.toBe(before.etag);
    expect(equals(ResolvedToolsetSchema, m.resolved!, after)).toBe(true);
    await w.quiet();
  });
});

describe("shutdown", () => {
  it("ends every open watch at once with UNAVAILABLE, and does not wait for them", async () => {
    const d = await fresh();
    const slug = uniqueSlug("bye");
    await d.deploy([tool("a")]);
    await d.createToolset(slug, ["a"]);
    const doomed = await startTestServer(database.url, { shutdownTimeoutMs: 20_000 });
    try {
      const watchers = PROTOCOLS.map((protocol) => {
        const client = doomed.client(ReleaseService, protocol);
        return new Watcher((signal) => client.watchToolset({ project: d.project, slug }, { ...d.auth(), signal }));
      });
      for (const w of watchers) await w.next();
      const t0 = performance.now();
      await doomed.app.shutdown();
      expect(performance.now() - t0).toBeLessThan(3_000);
      const ends = await Promise.all(watchers.map((w) => w.end(3_000)));
      expect(performance.now() - t0).toBeLessThan(3_000);
      expect(ends.map((e) => e.code)).toEqual(PROTOCOLS.map(() => Code.Unavailable));
    } finally {
      await doomed.close().catch(() => undefined);
    }
  });
});

describe("a watch that ends", () => {
  it("leaves nothing behind: a topic whose last watcher left during a reload that fails is not reloaded again", async () => {
    const d = await fresh();
    const slug = uniqueSlug("orphan");
    await d.deploy([tool("a")]);
    await d.createToolset(slug, ["a"]);
    // A server whose resolves can be held between their read and their store, then failed (as a transient database error would).
    let hold: Promise<void> | undefined;
    let held: (() => void) | undefined;
    let release!: () => void;
    let failing = false;
    const own = await startTestServer(database.url, {
      watchPollMs: 50,
      async beforeStore(key) {
        if (!failing || !key.startsWith("resolve:")) return;
        if (hold) {
          held?.();
          await hold;
        }
        throw new Error("a transient failure of the reload");
      },
    });
    try {
      const hub = own.app.context.watches;
      const w = new Watcher((signal) => own.client(ReleaseService).watchToolset({ project: d.project, slug }, { ...d.auth(), signal }));
      await w.next();
      const reachedStore = new Promise<void>((r) => (held = r));
      hold = new Promise<void>((r) => (release = r));
      failing = true;
      await driver(own, d.tenant).editLive(slug, { description: "reloaded while the watcher leaves" });
      // The reload has read and waits; the only watcher leaves meanwhile.
      await reachedStore;
      w.close();
      await w.ended;
      await expect.poll(() => hub.stats.topics, { timeout: WATCH_WAIT_MS, interval: 10 }).toBe(0);
      expect(hub.stats.watchers).toBe(0);
      hold = undefined;
      release();
      // The failed reload must not schedule another one for a topic nobody watches.
      await new Promise((r) => setTimeout(r, 100));
      const after = hub.stats.refreshes;
      await new Promise((r) => setTimeout(r, 500));
      expect(hub.stats.refreshes - after, "reloads of a dropped topic").toBe(0);
    } finally {
      failing = false;
      release?.();
      await own.close();
    }
  });
});
