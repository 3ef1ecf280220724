import { beforeAll, describe, expect, it } from "vitest";
import { ReleaseService, type ResolvedTool } from "../gen/releases/v1/releases_pb.js";
import type { VariationInit } from "../server/testing/driver.js";
import { createTenant, httpTool as tool, uniqueSlug, type ToolInit } from "../server/testing/fixtures.js";
import { startTestServer, type TestServer } from "../server/testing/server.js";
import { startServerProcess } from "../server/testing/server-process.js";
import { useTestServer } from "../server/testing/use-test-server.js";

const { database, server, tenant, api } = useTestServer({ tenants: 1 });
const { auth, sources, toolsets, deploy, upsertVariation, resolveToolset } = api;

describe("merge precedence: source ← global ← toolset, field by field", () => {
  interface Case {
    field: string;
    kind: string;
    source?: Partial<ToolInit>;
    global?: VariationInit;
    toolset?: VariationInit;
    expected: unknown;
    read: (t: ResolvedTool) => unknown;
  }
  const cases: Case[] = [];
  const strings: [string, keyof ToolInit | undefined, (v: string) => VariationInit, (t: ResolvedTool) => unknown][] = [
    ["title", "title", (v) => ({ title: v }), (t) => t.title],
    ["description", "description", (v) => ({ description: v }), (t) => t.description],
    ["confirm_prompt", undefined, (v) => ({ confirmPrompt: v }), (t) => t.confirmPrompt],
    ["summarizer", undefined, (v) => ({ summarizer: v }), (t) => t.summarizer],
  ];
  for (const [field, sourceKey, set, read] of strings) {
    const source = sourceKey ? { [sourceKey]: "S" } : {};
    const fallback = sourceKey ? "S" : "";
    cases.push(
      { field, kind: "source only", source, expected: fallback, read },
      { field, kind: "global only", source, global: set("G"), expected: "G", read },
      { field, kind: "toolset only", source, toolset: set("T"), expected: "T", read },
      { field, kind: "both", source, global: set("G"), toolset: set("T"), expected: "T", read },
      { field, kind: "explicit empty", source, global: set("G"), toolset: set(""), expected: "", read },
    );
  }
  // name: the source value is the tool's own name.
  cases.push(
    { field: "name", kind: "source only", expected: "SOURCE", read: (t) => t.name },
    { field: "name", kind: "global only", global: { name: "global_name" }, expected: "global_name", read: (t) => t.name },
    { field: "name", kind: "toolset only", toolset: { name: "toolset_name" }, expected: "toolset_name", read: (t) => t.name },
    {
      field: "name",
      kind: "both",
      global: { name: "global_name" },
      toolset: { name: "toolset_name" },
      expected: "toolset_name",
      read: (t) => t.name,
    },
  );
  const readTags = (t: ResolvedTool) => t.tags;
  cases.push(
    { field: "tags", kind: "source only", source: { tags: ["s"] }, expected: ["s"], read: readTags },
    { field: "tags", kind: "global only", source: { tags: ["s"] }, global: { tags: { values: ["g"] } }, expected: ["g"], read: readTags },
    { field: "tags", kind: "toolset only", source: { tags: ["s"] }, toolset: { tags: { values: ["t"] } }, expected: ["t"], read: readTags },
    {
      field: "tags",
      kind: "both",
      source: { tags: ["s"] },
      global: { tags: { values: ["g"] } },
      toolset: { tags: { values: ["t"] } },
      expected: ["t"],
      read: readTags,
    },
    {
      field: "tags",
      kind: "explicit empty",
      source: { tags: ["s"] },
      global: { tags: { values: ["g"] } },
      toolset: { tags: { values: [] } },
      expected: [],
      read: readTags,
    },
  );
  const readConfirm = (t: ResolvedTool) => t.confirm;
  cases.push(
    { field: "confirm", kind: "source only", expected: false, read: readConfirm },
    { field: "confirm", kind: "global only", global: { confirm: true }, expected: true, read: readConfirm },
    { field: "confirm", kind: "toolset only", toolset: { confirm: true }, expected: true, read: readConfirm },
    { field: "confirm", kind: "both", global: { confirm: true }, toolset: { confirm: false }, expected: false, read: readConfirm },
  );
  const hints = ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"] as const;
  for (const h of hints) {
    const read = (t: ResolvedTool) => t.annotations?.[h];
    cases.push(
      { field: h, kind: "source only", source: { [h]: true }, expected: true, read },
      { field: h, kind: "unset everywhere", expected: undefined, read },
      { field: h, kind: "global only", global: { [h]: true }, expected: true, read },
      { field: h, kind: "toolset only", source: { [h]: true }, toolset: { [h]: false }, expected: false, read },
      { field: h, kind: "both", source: { [h]: false }, global: { [h]: true }, toolset: { [h]: false }, expected: false, read },
    );
  }

  let resolved: Map<string, ResolvedTool>;
  const nameOf = (i: number) => `case_${i}`;
  const urnOf = (i: number) => `tools:http:api:${nameOf(i)}`;

  beforeAll(async () => {
    const own = api.with({ tenant: await createTenant(server.db) });
    await own.deploy(cases.map((c, i) => ({ ...tool(nameOf(i)), ...c.source })));
    const slug = "merge";
    await own.createToolset(
      slug,
      cases.map((_, i) => nameOf(i)),
    );
    for (const [i, c] of cases.entries()) {
      if (c.global) await own.upsertVariation({ global: true }, { srcToolUrn: urnOf(i), ...c.global });
      if (c.toolset) await own.upsertVariation({ toolsetSlug: slug }, { srcToolUrn: urnOf(i), ...c.toolset });
    }
    resolved = new Map((await own.resolve(slug)).tools.map((x) => [x.urn, x]));
  });

  it.each(cases.map((c, i) => [c.field, c.kind, i] as const))("%s: %s", (_field, _kind, i) => {
    const c = cases[i]!;
    const t = resolved.get(urnOf(i));
    expect(t).toBeDefined();
    expect(c.read(t!)).toEqual(c.expected === "SOURCE" ? nameOf(i) : c.expected);
  });
});

describe("ResolveToolset", () => {
  let slug: string;
  beforeAll(async () => {
    await deploy([tool("list_pets"), tool("get_pet", { inputSchema: { type: "object", properties: { id: { type: "string" } } } })]);
    await sources().upsertPromptTemplate({ project: tenant.project, name: "greet", prompt: "Hello {{name}}" }, auth());
    slug = uniqueSlug("res");
    await toolsets().createToolset(
      {
        project: tenant.project,
        name: "Pets",
        slug,
        toolUrns: ["tools:http:api:get_pet", "tools:http:api:list_pets", "tools:http:api:not_deployed"],
        promptTemplateNames: ["greet", "missing"],
      },
      auth(),
    );
  });

  it("serves the active deployment's selected tools and the latest prompt revisions, leaving out what is missing", async () => {
    const { resolved } = await resolveToolset({ slug });
    expect(resolved?.tools.map((t) => t.urn)).toEqual(["tools:http:api:get_pet", "tools:http:api:list_pets"]);
    expect(resolved?.tools[0]?.inputSchema).toEqual({ type: "object", properties: { id: { type: "string" } } });
    expect(resolved?.prompts.map((p) => [p.name, p.prompt])).toEqual([["greet", "Hello {{name}}"]]);
    await sources().upsertPromptTemplate({ project: tenant.project, name: "greet", prompt: "Hi {{name}}" }, auth());
    const again = await resolveToolset({ slug });
    expect(again.resolved?.prompts.map((p) => p.prompt)).toEqual(["Hi {{name}}"]);
  });

  it("resolves by mcp_slug, and honours if_none_match", async () => {
    const mcp = uniqueSlug("mcp");
    await toolsets().updateToolset({ project: tenant.project, slug, fields: { mcpSlug: mcp }, updateMask: { paths: ["mcp_slug"] } }, auth());
    const bySlug = await resolveToolset({ slug });
    const byMcp = await resolveToolset({ mcpSlug: mcp });
    expect(byMcp.resolved?.etag).toBe(bySlug.resolved?.etag);
    expect(byMcp.resolved?.slug).toBe(slug);
    const cached = await resolveToolset({ slug, ifNoneMatch: bySlug.resolved!.etag });
    expect(cached.notModified).toBe(true);
    expect(cached.resolved).toBeUndefined();
    const stale = await resolveToolset({ slug, ifNoneMatch: "stale-etag" });
    expect(stale.notModified).toBe(false);
    expect(stale.resolved?.etag).toBe(bySlug.resolved?.etag);
  });

  it("etag: changes with tools, variations, prompts and metadata; not with invisible writes", async () => {
    const etag = async () => (await resolveToolset({ slug })).resolved!.etag;
    const seen = new Set<string>();
    const expectNew = async () => {
      const e = await etag();
      expect(seen.has(e)).toBe(false);
      seen.add(e);
      return e;
    };
    const base = await expectNew();

    // Invisible: MCP settings, an update that changes nothing, a variation of an unselected tool.
    await toolsets().updateToolset(
      { project: tenant.project, slug, fields: { mcpIsPublic: true, mcpEnabled: true }, updateMask: { paths: ["mcp_is_public", "mcp_enabled"] } },
      auth(),
    );
    await toolsets().updateToolset({ project: tenant.project, slug, fields: { name: "Pets" }, updateMask: { paths: ["name"] } }, auth());
    await upsertVariation({ global: true }, { srcToolUrn: "tools:http:api:unselected", description: "x" });
    expect(await etag()).toBe(base);

    await upsertVariation({ toolsetSlug: slug }, { srcToolUrn: "tools:http:api:get_pet", description: "Find a pet by id" });
    await expectNew();
    await upsertVariation({ global: true }, { srcToolUrn: "tools:http:api:list_pets", title: "List" });
    await expectNew();
    await sources().upsertPromptTemplate({ project: tenant.project, name: "greet", prompt: "Howdy {{name}}" }, auth());
    await expectNew();
    await toolsets().updateToolset(
      { project: tenant.project, slug, fields: { description: "All about pets" }, updateMask: { paths: ["description"] } },
      auth(),
    );
    await expectNew();
    await deploy([tool("list_pets"), tool("get_pet", { inputSchema: { type: "object", properties: { id: { type: "integer" } } } })]);
    await expectNew();
    await toolsets().updateToolset(
      { project: tenant.project, slug, fields: { toolUrns: ["tools:http:api:get_pet"] }, updateMask: { paths: ["tool_urns"] } },
      auth(),
    );
    await expectNew();
  });

  it("a replica with a warm cache serves another replica's write at once", async () => {
    const replica = await startTestServer(database.url);
    try {
      const resolveOn = async (srv: TestServer) =>
        (await srv.client(ReleaseService).resolveToolset({ project: tenant.project, slug }, auth())).resolved!;
      const before = await resolveOn(replica);
      expect((await resolveOn(server)).etag).toBe(before.etag);
      // The second call on a warm replica skips the content queries.
      replica.queries.length = 0;
      await resolveOn(replica);
      const warm = replica.queries.length;
      await toolsets().updateToolset(
        { project: tenant.project, slug, fields: { description: `edited ${uniqueSlug("d")}` }, updateMask: { paths: ["description"] } },
        auth(),
      );
      await upsertVariation({ toolsetSlug: slug }, { srcToolUrn: "tools:http:api:get_pet", title: uniqueSlug("title") });
      replica.queries.length = 0;
      const after = await resolveOn(replica);
      expect(replica.queries.length).toBeGreaterThan(warm);
      expect(after.etag).not.toBe(before.etag);
      expect(after.etag).toBe((await resolveOn(server)).etag);
    } finally {
      await replica.close();
    }
  });

  it("the etag is the same in another server process for the same content", async () => {
    const here = (await resolveToolset({ slug })).resolved!.etag;
    const other = await startServerProcess({ DATABASE_URL: database.url });
    try {
      const there = await other.client(ReleaseService).resolveToolset({ project: tenant.project, slug }, auth());
      expect(there.resolved?.etag).toBe(here);
    } finally {
      await other.stop();
    }
  });

  it("runs the same number of queries for 10 and for 500 tools, variations and prompts", async () => {
    const count = async (n: number) => {
      const own = api.with({ tenant: await createTenant(server.db) });
      const names = Array.from({ length: n }, (_, i) => `t${i}`);
      await own.deploy(names.map((x) => tool(x)));
      const urns = names.map((x) => `tools:http:api:${x}`);
      const prompts = Array.from({ length: Math.ceil(n / 10) }, (_, i) => `p${i}`);
      for (const p of prompts) await own.upsertPrompt(p, p);
      await own.createToolset("big", names, prompts);
      // Every tool has a global or a toolset variation; every fifth has both.
      for (const [i, urn] of urns.entries()) {
        if (i % 2 === 0 || i % 5 === 0) await own.upsertVariation({ global: true }, { srcToolUrn: urn, title: "g" });
        if (i % 2 === 1 || i % 5 === 0) await own.upsertVariation({ toolsetSlug: "big" }, { srcToolUrn: urn, title: "t" });
      }
      server.queries.length = 0;
      const res = await own.resolveToolset({ slug: "big" });
      expect(res.resolved?.tools).toHaveLength(n);
      expect(res.resolved?.prompts).toHaveLength(prompts.length);
      expect(res.resolved?.tools.every((x) => x.title === (x.variationIds.length === 2 || Number(x.urn.split(":t")[1]) % 2 === 1 ? "t" : "g"))).toBe(
        true,
      );
      return server.queries.length;
    };
    const small = await count(10);
    const large = await count(500);
    expect(large).toBe(small);
    expect(small).toBeLessThanOrEqual(10);
  }, 120_000);
});
