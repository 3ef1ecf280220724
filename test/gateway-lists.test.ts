import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Target, type ResolvedToolset } from "../gen/releases/v1/releases_pb.js";
import { EditingMode } from "../gen/toolsets/v1/toolsets_pb.js";
import { httpTool as tool, uniqueSlug } from "../server/testing/fixtures.js";
import { useTestServer } from "../server/testing/use-test-server.js";
import { connectClient, ERAS, startTestGateway, type McpTestClient, type TestGateway } from "./support/gateway.js";

// The gateway's lists and change delivery (issue 10), with the SDK 1.x client on
// 2025-11-25 and the 2.x client on 2026-07-28, against live, staging and release
// endpoints: tools/list equals ResolveToolset; publish and rollback announce
// list_changed within 1 s; a no-op edit, another endpoint and a release endpoint
// announce nothing.

const { server, tenant, api } = useTestServer({ tenants: 1 });
let gw: TestGateway;
const clients: McpTestClient[] = [];

/** A toolset in staging mode (release 1 = tools a, b) with a public MCP endpoint. */
async function stagedEndpoint(): Promise<{ slug: string; mcpSlug: string; base: string }> {
  const slug = uniqueSlug("ts");
  const mcpSlug = uniqueSlug("mcp");
  await api.createToolset(slug, ["a", "b"]);
  await api.editLive(slug, { mcpSlug, mcpEnabled: true, mcpIsPublic: true });
  await api.switchMode(slug, EditingMode.STAGING);
  return { slug, mcpSlug, base: `${tenant.org}/${tenant.project}/${mcpSlug}` };
}

beforeAll(async () => {
  await api.deploy([
    tool("a", { inputSchema: { type: "object", properties: { q: { type: "string" } } }, readOnlyHint: true, title: "Tool A" }),
    tool("b"),
    tool("c", { description: "c does things" }),
  ]);
  gw = await startTestGateway(server.baseUrl);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await gw?.close();
});

async function connect(era: (typeof ERAS)[number], path: string, key?: string) {
  const c = await connectClient(era, gw.mcpUrl(path), key !== undefined ? { key } : {});
  clients.push(c);
  return c;
}

/** What tools/list must show for a resolved state. */
function expectedTools(resolved: ResolvedToolset) {
  return resolved.tools.map((t) => ({
    name: t.name,
    description: t.description,
    inputSchema: { ...(t.inputSchema ?? {}), type: "object" },
  }));
}

const pick = (tools: { name: string; [k: string]: unknown }[]) =>
  tools.map((t) => ({ name: t.name, description: t.description, inputSchema: t["inputSchema"] }));

const quiet = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(ERAS)("on %s", (era) => {
  it("tools/list of live, staging and a release equals ResolveToolset of the same target", async () => {
    const e = await stagedEndpoint();
    await api.editStaging(e.slug, { toolUrns: ["tools:http:api:a", "tools:http:api:c"] });
    const live = await connect(era, e.base);
    const staging = await connect(era, `${e.base}/staging`, tenant.producerKey);
    const release = await connect(era, `${e.base}/releases/1`, tenant.consumerKey);

    const liveList = await live.listTools();
    expect(pick(liveList.tools)).toEqual(expectedTools(await api.resolve(e.slug)));
    expect(liveList._meta).toMatchObject({ "toolset-release/release": 1, "toolset-release/etag": (await api.resolve(e.slug)).etag });
    const stagingList = await staging.listTools();
    expect(pick(stagingList.tools)).toEqual(expectedTools(await api.resolve(e.slug, Target.STAGING)));
    expect(stagingList._meta).toMatchObject({ "toolset-release/release": 0 });
    const releaseList = await release.listTools();
    expect(pick(releaseList.tools)).toEqual(expectedTools(await api.resolve(e.slug, Target.UNSPECIFIED, 1n)));
    if (era === "2026-07-28") {
      // Cache hints: public only where no key is involved; a release never changes.
      expect([liveList["ttlMs"], liveList["cacheScope"]]).toEqual([60_000, "public"]);
      expect([stagingList["ttlMs"], stagingList["cacheScope"]]).toEqual([60_000, "private"]);
      expect([releaseList["ttlMs"], releaseList["cacheScope"]]).toEqual([86_400_000, "private"]);
    }
    const a = liveList.tools.find((t) => t.name === "a");
    expect(a?.["title"]).toBe("Tool A");
    expect(a?.["annotations"]).toMatchObject({ readOnlyHint: true });
  });

  it("a publish and a rollback announce list_changed within 1 s to that endpoint only; a release endpoint never changes", async () => {
    const e = await stagedEndpoint();
    const other = await stagedEndpoint();
    const live = await connect(era, e.base);
    const release = await connect(era, `${e.base}/releases/1`, tenant.producerKey);
    const bystander = await connect(era, other.base);
    const releaseBefore = await release.listTools();

    await api.editStaging(e.slug, { toolUrns: ["tools:http:api:a", "tools:http:api:b", "tools:http:api:c"] });
    const published = await api.publish(e.slug);
    await live.waitForToolsChanged(0, 1_000);
    const after = await live.listTools();
    expect(after._meta?.["toolset-release/release"]).toBe(Number(published.releaseNumber));
    expect(after.tools.map((t) => t.name)).toEqual(["a", "b", "c"]);

    const seen = live.toolsChanged;
    await api.rollback(e.slug, 1n);
    await live.waitForToolsChanged(seen, 1_000);
    const back = await live.listTools();
    expect(back._meta?.["toolset-release/release"]).toBe(1);
    expect(back.tools.map((t) => t.name)).toEqual(["a", "b"]);

    await quiet(300);
    expect(bystander.toolsChanged).toBe(0);
    expect(release.toolsChanged).toBe(0);
    expect(await release.listTools()).toEqual(releaseBefore);
  });

  it("a change that leaves the lists as they were (the toolset's name) announces nothing", async () => {
    const slug = uniqueSlug("ts");
    const mcpSlug = uniqueSlug("mcp");
    await api.createToolset(slug, ["a"]);
    await api.editLive(slug, { mcpSlug, mcpEnabled: true, mcpIsPublic: true });
    const live = await connect(era, `${tenant.org}/${tenant.project}/${mcpSlug}`);
    const before = await live.listTools();
    await api.editLive(slug, { name: "Renamed toolset" });
    // The etag changed (it covers the name), the lists did not.
    expect((await api.resolve(slug)).etag).not.toBe(before._meta?.["toolset-release/etag"]);
    await quiet(700);
    expect(live.toolsChanged).toBe(0);
    expect(live.promptsChanged).toBe(0);
    await api.editLive(slug, { toolUrns: ["tools:http:api:a", "tools:http:api:b"] });
    await live.waitForToolsChanged(0, 1_000);
  });

  it("a release is served at the endpoint's current mcp_slug, whatever slug it was cut with", async () => {
    const e = await stagedEndpoint();
    const renamed = uniqueSlug("mcp");
    await api.editStaging(e.slug, { mcpSlug: renamed });
    await api.publish(e.slug);
    const release1 = await connect(era, `${tenant.org}/${tenant.project}/${renamed}/releases/1`, tenant.consumerKey);
    expect(pick((await release1.listTools()).tools)).toEqual(expectedTools(await api.resolve(e.slug, Target.UNSPECIFIED, 1n)));
  });

  it("a no-op edit announces nothing", async () => {
    const e = await stagedEndpoint();
    const staging = await connect(era, `${e.base}/staging`, tenant.producerKey);
    const live = await connect(era, e.base);
    await staging.listTools();
    const copy = await api.stagingCopy(e.slug);
    await api.editStaging(e.slug, { description: copy.description, toolUrns: copy.toolUrns });
    await quiet(700);
    expect(staging.toolsChanged).toBe(0);
    expect(live.toolsChanged).toBe(0);
    // The same stream does deliver a real edit of the staging copy.
    await api.editStaging(e.slug, { toolUrns: ["tools:http:api:c"] });
    await staging.waitForToolsChanged(0, 1_000);
    expect((await staging.listTools()).tools.map((t) => t.name)).toEqual(["c"]);
    expect(live.toolsChanged).toBe(0);
  });
});
