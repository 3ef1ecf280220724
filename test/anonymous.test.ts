import { equals } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { ReleaseService, ResolvedToolsetSchema, Target, type ResolveToolsetRequestSchema } from "../gen/releases/v1/releases_pb.js";
import { SourceService } from "../gen/sources/v1/sources_pb.js";
import { EditingMode, ToolsetService } from "../gen/toolsets/v1/toolsets_pb.js";
import { createApiKey, revokeApiKey } from "../server/auth/keys.js";
import type { Driver } from "../server/testing/driver.js";
import { httpTool as tool, uniqueSlug, urn, type InitObject, type Tenant } from "../server/testing/fixtures.js";
import { bearer, failure, PROTOCOLS, type Protocol } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";
import { closeWatchersAfterEach, Watcher, type WatchEnd } from "../server/testing/watcher.js";

// Anonymous ResolveToolset and WatchToolset (issue 9, DESIGN §9): without a
// key, only `organization` + `project` + `mcp_slug` of the live target of an
// MCP-enabled, public toolset. Anything else without a key is UNAUTHENTICATED;
// a private, disabled or missing endpoint (or organization, or project) is one
// and the same NOT_FOUND, so that nothing tells them apart.

const { server, tenant, other, api } = useTestServer({ tenants: 2 });
const theirs = () => api.with({ tenant: other });

type ResolveInit = InitObject<typeof ResolveToolsetRequestSchema>;

/** The client of a caller without a key. */
const anonymous = (protocol: Protocol = "connect-json") => server.client(ReleaseService, protocol);

/** The one NOT_FOUND message of an anonymous call, whatever is missing, private or disabled. */
const notFoundMessage = (org: string, project: string, mcpSlug: string) => `no public MCP endpoint "${org}/${project}/${mcpSlug}"`;

/** A toolset of `d`'s project serving tool "a" at endpoint `mcpSlug`, with the given endpoint settings. */
async function endpoint(d: Driver, settings: { enabled: boolean; public: boolean }, mcpSlug = uniqueSlug("mcp")) {
  const slug = uniqueSlug("ts");
  await d.createToolset(slug, ["a"]);
  await d.editLive(slug, { mcpSlug, mcpEnabled: settings.enabled, mcpIsPublic: settings.public });
  return { slug, mcpSlug };
}

/** The anonymous address of `t`'s endpoint `mcpSlug`. */
const address = (t: Tenant, mcpSlug: string): ResolveInit => ({ organization: t.org, project: t.project, mcpSlug });

/** A public, enabled endpoint in staging mode (so it has a staging copy and a release 1). */
const publicInStaging = { slug: "", mcpSlug: "" };

beforeAll(async () => {
  await api.deploy([tool("a"), tool("b")]);
  await theirs().deploy([tool("a")]);
  Object.assign(publicInStaging, await endpoint(api, { enabled: true, public: true }));
  await api.switchMode(publicInStaging.slug, EditingMode.STAGING);
});

// ---------------------------------------------------------------------------
// Streams: read in the background, waited on with bounded timeouts, closed after each test.

closeWatchersAfterEach();

/** An anonymous watch (no authorization header). */
const watchAnonymously = (req: ResolveInit, protocol: Protocol = "connect-json") =>
  new Watcher((signal) => anonymous(protocol).watchToolset(req, { signal }));

/** How a call to both RPCs ends, anonymously: ResolveToolset's error, and WatchToolset's end. */
async function bothFail(req: ResolveInit): Promise<{ resolve: WatchEnd; watch: WatchEnd }> {
  const resolve = await failure(anonymous().resolveToolset(req));
  const watch = await watchAnonymously(req).end();
  return { resolve, watch };
}

// ---------------------------------------------------------------------------

describe("a public endpoint, anonymously", () => {
  it.each(PROTOCOLS)("ResolveToolset over %s: the live state, mcp_enabled and mcp_is_public set, as a key sees it", async (protocol) => {
    const { mcpSlug } = await endpoint(api, { enabled: true, public: true });
    const res = await anonymous(protocol).resolveToolset(address(tenant, mcpSlug));
    expect(res.notModified).toBe(false);
    const resolved = res.resolved!;
    expect(resolved.mcpEnabled).toBe(true);
    expect(resolved.mcpIsPublic).toBe(true);
    expect(resolved.mcpSlug).toBe(mcpSlug);
    expect(resolved.tools.map((t) => t.urn)).toEqual([urn("a")]);
    const keyed = (await api.with({ protocol }).resolveToolset({ mcpSlug })).resolved!;
    expect(equals(ResolvedToolsetSchema, resolved, keyed)).toBe(true);

    const again = await anonymous(protocol).resolveToolset({ ...address(tenant, mcpSlug), ifNoneMatch: resolved.etag });
    expect(again.notModified).toBe(true);
    expect(again.resolved).toBeUndefined();
  });

  it.each(PROTOCOLS)("WatchToolset over %s: the state first, then a change", async (protocol) => {
    const { slug, mcpSlug } = await endpoint(api, { enabled: true, public: true });
    const w = watchAnonymously(address(tenant, mcpSlug), protocol);
    const first = await w.next();
    expect(first.resolved?.mcpIsPublic).toBe(true);
    expect(first.etag).toBe((await api.resolve(slug)).etag);
    await api.editLive(slug, { description: "seen by anyone" });
    const m = await w.next();
    expect(m.resolved?.description).toBe("seen by anyone");
    expect(m.etag).toBe((await api.resolve(slug)).etag);
    expect(m.etag).not.toBe(first.etag);
  });

  it("in staging mode: the current release, not the staging copy", async () => {
    const { slug, mcpSlug } = await endpoint(api, { enabled: true, public: true });
    await api.switchMode(slug, EditingMode.STAGING);
    await api.editStaging(slug, { toolUrns: [urn("a"), urn("b")] });
    const live = (await anonymous().resolveToolset(address(tenant, mcpSlug))).resolved!;
    expect(live.releaseNumber).toBe(1n);
    expect(live.tools.map((t) => t.urn)).toEqual([urn("a")]);
    expect([live.mcpEnabled, live.mcpIsPublic]).toEqual([true, true]);
  });
});

describe("UNAUTHENTICATED without a key", () => {
  it.each<[string, (mcpSlug: string) => ResolveInit]>([
    ["TARGET_STAGING of a public endpoint", (mcpSlug) => ({ ...address(tenant, mcpSlug), target: Target.STAGING })],
    ["a release of a public endpoint", (mcpSlug) => ({ ...address(tenant, mcpSlug), releaseNumber: 1n })],
    ["slug instead of mcp_slug", () => ({ organization: tenant.org, project: tenant.project, slug: publicInStaging.slug })],
    ["no organization", (mcpSlug) => ({ project: tenant.project, mcpSlug })],
  ])("%s, on ResolveToolset and WatchToolset", async (_name, request) => {
    const req = request(publicInStaging.mcpSlug);
    const { resolve, watch } = await bothFail(req);
    expect(resolve.code).toBe(Code.Unauthenticated);
    expect(watch.code).toBe(Code.Unauthenticated);
    expect(watch.message).toBe(resolve.message);
  });

  it("a malformed or revoked key is refused, not treated as no key", async () => {
    const { mcpSlug } = await endpoint(api, { enabled: true, public: true });
    const revoked = await createApiKey(server.db, { org: tenant.org, scope: "consumer", name: uniqueSlug("gone") });
    await revokeApiKey(server.db, { org: tenant.org, name: revoked.name });
    for (const headers of [bearer(revoked.key), { headers: { authorization: "Bearer not-a-key" } }, { headers: { authorization: "Basic abc" } }]) {
      expect((await failure(anonymous().resolveToolset(address(tenant, mcpSlug), headers))).code).toBe(Code.Unauthenticated);
      const w = new Watcher((signal) => anonymous().watchToolset(address(tenant, mcpSlug), { ...headers, signal }));
      expect((await w.end()).code).toBe(Code.Unauthenticated);
    }
  });

  it.each<[string, () => Promise<unknown>]>([
    ["ToolsetService.GetToolset", () => server.client(ToolsetService).getToolset({ project: tenant.project, slug: publicInStaging.slug })],
    ["ToolsetService.ListToolsets", () => server.client(ToolsetService).listToolsets({ project: tenant.project })],
    ["ReleaseService.ListReleases", () => anonymous().listReleases({ project: tenant.project, slug: publicInStaging.slug })],
    ["ReleaseService.GetRelease", () => anonymous().getRelease({ project: tenant.project, slug: publicInStaging.slug, releaseNumber: 1n })],
    [
      "ReleaseService.DiffReleases",
      () =>
        anonymous().diffReleases({
          project: tenant.project,
          slug: publicInStaging.slug,
          from: { ref: { case: "target", value: Target.LIVE } },
          to: { ref: { case: "target", value: Target.STAGING } },
        }),
    ],
    ["ReleaseService.PublishStagingVersion", () => anonymous().publishStagingVersion({ project: tenant.project, slug: publicInStaging.slug })],
    ["SourceService.CreateDeployment", () => server.client(SourceService).createDeployment({ project: tenant.project, tools: [tool("x")] })],
  ])("%s stays UNAUTHENTICATED", async (_name, call) => {
    expect((await failure(call())).code).toBe(Code.Unauthenticated);
  });
});

describe("the same NOT_FOUND for private, disabled and missing endpoints", () => {
  /** Each case: the organization, project and mcp_slug asked for. */
  it.each<[string, () => Promise<[string, string, string]>]>([
    ["private (mcp_is_public false)", async () => [tenant.org, tenant.project, (await endpoint(api, { enabled: true, public: false })).mcpSlug]],
    ["disabled (mcp_enabled false)", async () => [tenant.org, tenant.project, (await endpoint(api, { enabled: false, public: true })).mcpSlug]],
    ["neither enabled nor public", async () => [tenant.org, tenant.project, (await endpoint(api, { enabled: false, public: false })).mcpSlug]],
    [
      "another organization's public endpoint, named with this organization",
      async () => [tenant.org, other.project, (await endpoint(theirs(), { enabled: true, public: true })).mcpSlug],
    ],
    [
      "this organization's public endpoint, named with another organization",
      async () => [other.org, tenant.project, (await endpoint(api, { enabled: true, public: true })).mcpSlug],
    ],
    ["a missing mcp_slug", async () => [tenant.org, tenant.project, uniqueSlug("nothing")]],
    ["a missing project", async () => [tenant.org, uniqueSlug("no-project"), (await endpoint(api, { enabled: true, public: true })).mcpSlug]],
    ["a missing organization", async () => [uniqueSlug("no-org"), tenant.project, (await endpoint(api, { enabled: true, public: true })).mcpSlug]],
    [
      "a deleted toolset's endpoint",
      async () => {
        const { slug, mcpSlug } = await endpoint(api, { enabled: true, public: true });
        await api.toolsets().deleteToolset({ project: tenant.project, slug }, api.auth());
        return [tenant.org, tenant.project, mcpSlug];
      },
    ],
  ])("%s, on ResolveToolset and WatchToolset", async (_name, names) => {
    const [organization, project, mcpSlug] = await names();
    const { resolve, watch } = await bothFail({ organization, project, mcpSlug });
    expect(resolve).toEqual({ code: Code.NotFound, message: notFoundMessage(organization, project, mcpSlug) });
    expect(watch).toEqual({ code: Code.NotFound, message: notFoundMessage(organization, project, mcpSlug) });
  });

  it("an anonymous watcher's stream ends with that NOT_FOUND when the endpoint is made private", async () => {
    const { slug, mcpSlug } = await endpoint(api, { enabled: true, public: true });
    const w = watchAnonymously(address(tenant, mcpSlug));
    await w.next();
    await api.editLive(slug, { mcpIsPublic: false });
    expect(await w.end()).toEqual({ code: Code.NotFound, message: notFoundMessage(tenant.org, tenant.project, mcpSlug) });
    // A watcher with a key still sees it.
    expect((await api.resolveToolset({ mcpSlug })).resolved?.mcpIsPublic).toBe(false);
  });

  /**
   * Opens an anonymous watcher and one with a key of the same endpoint, one
   * after the other (the second joins what the first opened), and waits for
   * both first messages.
   */
  async function twoWatchers(mcpSlug: string, order: "keyed first" | "anonymous first") {
    const openKeyed = () => new Watcher((signal) => api.releases().watchToolset({ project: tenant.project, mcpSlug }, { ...api.auth(), signal }));
    const openAnonymous = () => watchAnonymously(address(tenant, mcpSlug));
    const first = order === "keyed first" ? openKeyed() : openAnonymous();
    const state = await first.next();
    const second = order === "keyed first" ? openAnonymous() : openKeyed();
    expect((await second.next()).etag).toBe(state.etag);
    const [keyed, anon] = order === "keyed first" ? [first, second] : [second, first];
    return { keyed, anon, state };
  }

  it.each(["keyed first", "anonymous first"] as const)(
    "with a keyed watcher too (%s): disabling ends the anonymous watch with that NOT_FOUND; the keyed one hears the change and goes on",
    async (order) => {
      const { slug, mcpSlug } = await endpoint(api, { enabled: true, public: true });
      const { keyed, anon, state } = await twoWatchers(mcpSlug, order);
      await api.editLive(slug, { mcpEnabled: false });
      expect(await anon.end()).toEqual({ code: Code.NotFound, message: notFoundMessage(tenant.org, tenant.project, mcpSlug) });
      const m = await keyed.next();
      expect([m.resolved?.mcpEnabled, m.resolved?.mcpIsPublic]).toEqual([false, true]);
      expect(m.etag).toBe(state.etag);
    },
  );

  it.each(["keyed first", "anonymous first"] as const)(
    "with a keyed watcher too (%s): deleting the toolset ends the anonymous watch with that same NOT_FOUND (deleted and private look alike)",
    async (order) => {
      const { slug, mcpSlug } = await endpoint(api, { enabled: true, public: true });
      const { keyed, anon } = await twoWatchers(mcpSlug, order);
      await api.toolsets().deleteToolset({ project: tenant.project, slug }, api.auth());
      expect(await anon.end()).toEqual({ code: Code.NotFound, message: notFoundMessage(tenant.org, tenant.project, mcpSlug) });
      expect((await keyed.end()).code).toBe(Code.NotFound);
    },
  );
});

describe("organization with a key", () => {
  it("naming the key's own organization: OK, on both RPCs", async () => {
    const { slug, mcpSlug } = await endpoint(api, { enabled: true, public: false });
    const byOrg = await api.resolveToolset({ organization: tenant.org, mcpSlug });
    expect(byOrg.resolved?.etag).toBe((await api.resolve(slug)).etag);
    const w = new Watcher((signal) =>
      api.releases().watchToolset({ organization: tenant.org, project: tenant.project, slug }, { ...api.auth(), signal }),
    );
    expect((await w.next()).etag).toBe(byOrg.resolved?.etag);
  });

  it("naming another organization (or none that exists): NOT_FOUND, as any project of another organization", async () => {
    const { slug } = await endpoint(api, { enabled: true, public: true });
    // The reference: a key naming another organization's project.
    const foreign = await failure(api.with({ project: other.project }).resolveToolset({ slug }));
    expect(foreign.code).toBe(Code.NotFound);
    const shape = (message: string, project: string) => message.replaceAll(project, "<project>");

    for (const organization of [other.org, uniqueSlug("no-org")]) {
      const resolve = await failure(api.resolveToolset({ organization, slug }));
      expect(resolve.code).toBe(Code.NotFound);
      expect(shape(resolve.message, tenant.project)).toBe(shape(foreign.message, other.project));

      const w = new Watcher((signal) => api.releases().watchToolset({ organization, project: tenant.project, slug }, { ...api.auth(), signal }));
      const watch = await w.end();
      expect(watch.code).toBe(Code.NotFound);
      expect(watch.message).toBe(resolve.message);
    }
  });
});
