import { toJson } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { EditingMode, ToolVariationSchema, type ToolVariation } from "../gen/toolsets/v1/toolsets_pb.js";
import type { ToolsetRow } from "../server/db/database.js";
import type { ScopeInit, VariationInit } from "../server/testing/driver.js";
import { createTenant, projectId, uniqueSlug, type Tenant } from "../server/testing/fixtures.js";
import { bearer, type Protocol, failure } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";

const { server, tenant, other, api } = useTestServer({ tenants: 2 });

const GLOBAL: ScopeInit = { global: true };
const toolsetScope = (slug: string, staging = false): ScopeInit => ({ toolsetSlug: slug, staging });

// The calls of the driver with the tenant (and key, protocol) as arguments, as the tests below vary them.
const upsert = (scope: ScopeInit, variation: VariationInit, t: Tenant = tenant, protocol?: Protocol) =>
  api.with({ tenant: t, protocol }).upsertVariation(scope, variation);
const list = (scope: ScopeInit, t: Tenant = tenant, key = t.producerKey) => api.with({ tenant: t, apiKey: key }).listVariations(scope);
const versions = (scope: ScopeInit, srcToolUrn: string, t: Tenant = tenant) => api.with({ tenant: t }).variationVersions(scope, srcToolUrn);
const remove = (scope: ScopeInit, srcToolUrn: string, t: Tenant = tenant) => api.with({ tenant: t }).deleteVariation(scope, srcToolUrn);

/** A live toolset in iteration mode, created through CreateToolset; returns its stored row. */
async function newToolsetRow(slug: string): Promise<ToolsetRow> {
  return toolsetRow((await api.createToolset(slug)).id);
}

/** Switches a toolset to staging mode and returns its staging copy. */
async function stage(live: ToolsetRow): Promise<ToolsetRow> {
  await api.switchMode(live.slug, EditingMode.STAGING);
  return toolsetRow((await api.stagingCopy(live.slug)).id);
}

/** A live toolset in staging mode with its staging copy. */
async function createStagedToolset(slug: string): Promise<{ live: ToolsetRow; copy: ToolsetRow }> {
  const live = await newToolsetRow(slug);
  const copy = await stage(live);
  return { live, copy };
}

/** The project's global variation group (project_tool_variations); null while it has none. */
async function globalGroupId(t: Tenant): Promise<string | null> {
  const row = await server.db
    .selectFrom("project_tool_variations")
    .select("group_id")
    .where("project_id", "=", await projectId(server.db, t))
    .executeTakeFirst();
  return row?.group_id ?? null;
}

async function toolsetRow(id: string): Promise<ToolsetRow> {
  return server.db.selectFrom("toolsets").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
}

async function groupOf(groupId: string) {
  const group = await server.db.selectFrom("tool_variations_groups").selectAll().where("id", "=", groupId).executeTakeFirstOrThrow();
  const current = await server.db
    .selectFrom("tool_variations_group_versions")
    .selectAll()
    .where("id", "=", group.current_version_id!)
    .executeTakeFirstOrThrow();
  return { group, current };
}

async function rowCounts(): Promise<Record<string, string>> {
  const { rows } = await sql<Record<string, string>>`
    select (select count(*) from tool_variations)::text as variations,
           (select count(*) from tool_variations_group_versions)::text as group_versions,
           (select count(*) from tool_variations_groups)::text as groups,
           (select count(*) from project_tool_variations)::text as project_groups,
           (select count(*) from toolsets where tool_variations_group_id is not null)::text as toolsets_with_group`.execute(server.db);
  return rows[0]!;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("variation lifecycle in one scope", () => {
  const urn = "tools:http:petstore:get_pet";
  const FIRST: VariationInit = { srcToolUrn: urn, description: "Fetch one pet", confirm: true, tags: { values: [] }, readOnlyHint: true };
  const SECOND: VariationInit = { srcToolUrn: urn, name: "get_pet_v2", tags: { values: ["pets", "read"] } };

  /** A fresh project, so its global scope starts empty, with FIRST written as version 1. */
  async function withV1(): Promise<{ t: Tenant; v1: ToolVariation }> {
    const t = await createTenant(server.db);
    return { t, v1: await upsert(GLOBAL, FIRST, t) };
  }

  /** As withV1, then SECOND written as version 2. */
  async function withV2(): Promise<{ t: Tenant; v1: ToolVariation; v2: ToolVariation }> {
    const { t, v1 } = await withV1();
    return { t, v1, v2: await upsert(GLOBAL, SECOND, t) };
  }

  it("a scope without a group lists nothing and creates nothing", async () => {
    const t = await createTenant(server.db);
    const before = await rowCounts();
    expect(await list(GLOBAL, t)).toEqual([]);
    expect(await versions(GLOBAL, urn, t)).toEqual([]);
    expect(await globalGroupId(t)).toBeNull();
    expect(await rowCounts()).toEqual(before);
  });

  it("the first upsert writes version 1", async () => {
    const t = await createTenant(server.db);
    const v1 = await upsert(GLOBAL, FIRST, t);
    expect(v1.id).toMatch(UUID);
    expect(v1.groupId).toMatch(UUID);
    expect(v1.version).toBe(1n);
    expect(v1.predecessorId).toBe("");
    expect(v1.description).toBe("Fetch one pet");
    expect(v1.confirm).toBe(true);
    expect(v1.readOnlyHint).toBe(true);
    expect(v1.tags?.values).toEqual([]);
    expect(v1.name).toBeUndefined();
    expect(v1.destructiveHint).toBeUndefined();
    expect(v1.createdAt).toBeDefined();
    // Unset overrides are absent on the wire, an empty tag list is not.
    const json = toJson(ToolVariationSchema, v1) as Record<string, unknown>;
    expect(json["tags"]).toEqual({});
    expect("name" in json).toBe(false);
    expect("summary" in json).toBe(false);
    const { group, current } = await groupOf(v1.groupId);
    expect(current.variation_ids).toEqual([v1.id]);
    expect(current.version).toBe(1n);
    expect(current.predecessor_id).toBeNull();
    expect(group.current_version_id).toBe(current.id);
    // The write attached the group to the project as its global one.
    expect(await globalGroupId(t)).toBe(group.id);
  });

  it("a second upsert writes version 2 and leaves version 1 as it was", async () => {
    const { t, v1 } = await withV1();
    const storedV1 = await server.db.selectFrom("tool_variations").selectAll().where("id", "=", v1.id).executeTakeFirstOrThrow();
    const before = await groupOf(v1.groupId);
    const v2 = await upsert(GLOBAL, SECOND, t);
    expect(v2.version).toBe(2n);
    expect(v2.predecessorId).toBe(v1.id);
    expect(v2.groupId).toBe(v1.groupId);
    expect(v2.name).toBe("get_pet_v2");
    expect(v2.tags?.values).toEqual(["pets", "read"]);
    // The request defines the whole override: what it leaves out inherits again.
    expect(v2.description).toBeUndefined();
    expect(v2.confirm).toBeUndefined();
    expect(v2.readOnlyHint).toBeUndefined();

    expect(await server.db.selectFrom("tool_variations").selectAll().where("id", "=", v1.id).executeTakeFirstOrThrow()).toEqual(storedV1);
    const after = await groupOf(v1.groupId);
    expect(after.group.current_version_id).not.toBe(before.group.current_version_id);
    expect(after.current.variation_ids).toEqual([v2.id]);
    expect(before.current.variation_ids).toEqual([v1.id]);
    expect(after.current.version).toBe(before.current.version + 1n);
    expect(after.current.predecessor_id).toBe(before.current.id);

    expect((await list(GLOBAL, t)).map((v) => v.id)).toEqual([v2.id]);
    const history = await versions(GLOBAL, urn, t);
    expect(history.map((v) => [v.id, v.version])).toEqual([
      [v2.id, 2n],
      [v1.id, 1n],
    ]);
    expect(history[1]).toEqual(v1);
  });

  it("lists current variations ordered by src_tool_urn, and group snapshots keep that order", async () => {
    const { t, v1, v2 } = await withV2();
    const z = await upsert(GLOBAL, { srcToolUrn: "tools:http:zoo:list_animals", title: "Animals" }, t);
    const a = await upsert(GLOBAL, { srcToolUrn: "tools:http:accounts:get_me", summary: "Me" }, t);
    const listed = await list(GLOBAL, t);
    expect(listed.map((v) => v.srcToolUrn)).toEqual(["tools:http:accounts:get_me", urn, "tools:http:zoo:list_animals"]);
    expect(listed.map((v) => v.id)).toEqual([a.id, v2.id, z.id]);
    const { current } = await groupOf(v1.groupId);
    expect(current.variation_ids).toEqual([a.id, v2.id, z.id]);
  });

  it("delete writes a group version without the variation; its versions stay readable", async () => {
    const { t, v1, v2 } = await withV2();
    await upsert(GLOBAL, { srcToolUrn: "tools:http:zoo:list_animals", title: "Animals" }, t);
    await upsert(GLOBAL, { srcToolUrn: "tools:http:accounts:get_me", summary: "Me" }, t);
    const variationsBefore = (await rowCounts())["variations"];
    const before = await groupOf(v1.groupId);
    await remove(GLOBAL, urn, t);
    const after = await groupOf(v1.groupId);
    expect(after.group.current_version_id).not.toBe(before.group.current_version_id);
    expect(after.current.version).toBe(before.current.version + 1n);
    expect(after.current.predecessor_id).toBe(before.current.id);
    expect(after.current.variation_ids).not.toContain(v2.id);
    expect(after.current.variation_ids).toHaveLength(2);
    expect((await list(GLOBAL, t)).map((v) => v.srcToolUrn)).not.toContain(urn);
    expect((await versions(GLOBAL, urn, t)).map((v) => v.version)).toEqual([2n, 1n]);
    expect((await rowCounts())["variations"]).toBe(variationsBefore);
  });

  it("deleting a variation that is not there → NOT_FOUND, nothing written", async () => {
    const { t } = await withV2();
    await remove(GLOBAL, urn, t);
    const before = await rowCounts();
    const again = await failure(remove(GLOBAL, urn, t));
    expect(again.code).toBe(Code.NotFound);
    expect(again.message).toContain(urn);
    expect((await failure(remove(GLOBAL, "tools:http:petstore:never_varied", t))).code).toBe(Code.NotFound);
    expect(await rowCounts()).toEqual(before);
  });

  it("an upsert after a delete continues the version history", async () => {
    const { t, v2 } = await withV2();
    await remove(GLOBAL, urn, t);
    const v3 = await upsert(GLOBAL, { srcToolUrn: urn, description: "back" }, t);
    expect(v3.version).toBe(3n);
    expect(v3.predecessorId).toBe(v2.id);
    expect((await list(GLOBAL, t)).map((v) => v.id)).toContain(v3.id);
    expect((await versions(GLOBAL, urn, t)).map((v) => v.version)).toEqual([3n, 2n, 1n]);
  });

  it("ignores output-only fields of the request", async () => {
    const { t, v1 } = await withV1();
    const v = await upsert(
      GLOBAL,
      {
        srcToolUrn: "tools:http:petstore:add_pet",
        id: "not-an-id",
        groupId: "not-a-group",
        version: -7n,
        predecessorId: "nope",
        createdAt: { seconds: 1n, nanos: 0 },
      },
      t,
    );
    expect(v.id).toMatch(UUID);
    expect(v.groupId).toBe(v1.groupId);
    expect(v.version).toBe(1n);
    expect(v.predecessorId).toBe("");
    expect(Number(v.createdAt?.seconds)).toBeGreaterThan(1_700_000_000);
  });

  it("round-trips every override field", async () => {
    const overrides = {
      name: "remove.Pet-1",
      description: "Deletes a pet ✓",
      summary: "delete",
      title: "Delete pet",
      confirm: false,
      confirmPrompt: "Really delete?",
      summarizer: "short",
      tags: { values: ["danger"] },
      readOnlyHint: false,
      destructiveHint: true,
      idempotentHint: true,
      openWorldHint: false,
    };
    const v = await upsert(GLOBAL, { srcToolUrn: "tools:http:petstore:delete_pet", ...overrides });
    const [listed] = (await list(GLOBAL)).filter((x) => x.id === v.id);
    expect(listed).toEqual(v);
    expect(toJson(ToolVariationSchema, v)).toMatchObject(overrides);
  });
});

describe("toolset scopes", () => {
  const urn = "tools:http:petstore:get_pet";

  it("global and toolset variations live in independent groups", async () => {
    const slug = uniqueSlug("ts");
    const toolset = await newToolsetRow(slug);
    const t1 = await upsert(toolsetScope(slug), { srcToolUrn: urn, description: "toolset" });
    const g = await upsert(GLOBAL, { srcToolUrn: "tools:http:other:thing", description: "global" });
    expect(t1.version).toBe(1n);
    expect(t1.groupId).not.toBe(g.groupId);
    expect((await list(toolsetScope(slug))).map((v) => v.id)).toEqual([t1.id]);
    expect((await list(GLOBAL)).map((v) => v.id)).not.toContain(t1.id);
    // The toolset's own history of the URN starts at 1 whatever the global group holds.
    expect((await versions(toolsetScope(slug), urn)).map((v) => v.id)).toEqual([t1.id]);

    const after = await toolsetRow(toolset.id);
    expect(after.tool_variations_group_id).toBe(t1.groupId);
    // Attaching the group is bookkeeping, not a change clients see.
    expect(after.version).toBe(toolset.version);
    expect(after.updated_at).toEqual(toolset.updated_at);

    await remove(toolsetScope(slug), urn);
    expect(await list(toolsetScope(slug))).toEqual([]);
    expect((await list(GLOBAL)).map((v) => v.id)).toContain(g.id);
  });

  it("a toolset without a group lists nothing; a missing toolset → NOT_FOUND", async () => {
    const slug = uniqueSlug("ts");
    await api.createToolset(slug);
    expect(await list(toolsetScope(slug))).toEqual([]);
    expect(await versions(toolsetScope(slug), urn)).toEqual([]);
    expect((await failure(remove(toolsetScope(slug), urn))).code).toBe(Code.NotFound);
    const before = await rowCounts();
    expect((await failure(list(toolsetScope("no-such-toolset")))).code).toBe(Code.NotFound);
    expect((await failure(upsert(toolsetScope("no-such-toolset"), { srcToolUrn: urn }))).code).toBe(Code.NotFound);
    expect(await rowCounts()).toEqual(before);
  });

  it("staging = true without a staging copy → NOT_FOUND", async () => {
    const slug = uniqueSlug("ts");
    await api.createToolset(slug);
    const before = await rowCounts();
    expect((await failure(upsert(toolsetScope(slug, true), { srcToolUrn: urn }))).code).toBe(Code.NotFound);
    expect((await failure(list(toolsetScope(slug, true)))).code).toBe(Code.NotFound);
    expect((await failure(versions(toolsetScope(slug, true), urn))).code).toBe(Code.NotFound);
    expect((await failure(remove(toolsetScope(slug, true), urn))).code).toBe(Code.NotFound);
    expect(await rowCounts()).toEqual(before);
  });

  it("a live toolset in staging mode rejects variation edits; its staging copy and global variations accept them", async () => {
    const slug = uniqueSlug("ts");
    const live = await newToolsetRow(slug);
    const v = await upsert(toolsetScope(slug), { srcToolUrn: urn, description: "before staging" });
    const copy = await stage(live);

    const before = await rowCounts();
    const up = await failure(upsert(toolsetScope(slug), { srcToolUrn: urn, description: "direct" }));
    expect(up.code).toBe(Code.FailedPrecondition);
    expect(up.message).toContain("staging copy");
    expect((await failure(remove(toolsetScope(slug), urn))).code).toBe(Code.FailedPrecondition);
    expect(await rowCounts()).toEqual(before);

    // Reads of the live scope still work.
    expect((await list(toolsetScope(slug))).map((x) => x.id)).toEqual([v.id]);

    const g = await upsert(GLOBAL, { srcToolUrn: urn, description: "global while staged" });
    expect(g.description).toBe("global while staged");

    // The staging copy started with its own copy of the live variation (version 1).
    const [copied] = await list(toolsetScope(slug, true));
    expect([copied?.description, copied?.version, copied?.groupId === v.groupId]).toEqual(["before staging", 1n, false]);
    const s = await upsert(toolsetScope(slug, true), { srcToolUrn: urn, description: "staged" });
    expect(s.version).toBe(2n);
    expect(s.groupId).toBe(copied?.groupId);
    expect((await toolsetRow(copy.id)).tool_variations_group_id).toBe(s.groupId);
    expect((await list(toolsetScope(slug, true))).map((x) => x.id)).toEqual([s.id]);
    expect((await list(toolsetScope(slug))).map((x) => x.id)).toEqual([v.id]);
    await remove(toolsetScope(slug, true), urn);
    expect(await list(toolsetScope(slug, true))).toEqual([]);
  });

  it("a staging copy without toolset variations gets its group on the first write", async () => {
    const slug = uniqueSlug("ts");
    const { copy } = await createStagedToolset(slug);
    const s = await upsert(toolsetScope(slug, true), { srcToolUrn: urn, title: "T" });
    expect((await toolsetRow(copy.id)).tool_variations_group_id).toBe(s.groupId);
  });
});

describe("concurrency", () => {
  const urn = "tools:http:petstore:get_pet";

  async function assertContiguous(results: ToolVariation[], scope: ScopeInit, t: Tenant) {
    expect(results.map((v) => v.version).sort((a, b) => Number(a - b))).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n]);
    expect(new Set(results.map((v) => v.groupId)).size).toBe(1);
    const history = await versions(scope, urn, t);
    expect(history.map((v) => v.version)).toEqual([10n, 9n, 8n, 7n, 6n, 5n, 4n, 3n, 2n, 1n]);
    // Each version replaces exactly the one before it.
    history.forEach((v, i) => expect(v.predecessorId).toBe(history[i + 1]?.id ?? ""));
    const { current } = await groupOf(results[0]!.groupId);
    expect(current.version).toBe(10n);
    expect(current.variation_ids).toEqual([history[0]!.id]);
    const groupVersions = await server.db
      .selectFrom("tool_variations_group_versions")
      .select("version")
      .where("group_id", "=", results[0]!.groupId)
      .orderBy("version")
      .execute();
    expect(groupVersions.map((r) => r.version)).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n]);
  }

  it("10 concurrent upserts of one tool in a new toolset group get versions 1..10 once each", async () => {
    const slug = uniqueSlug("ts");
    await api.createToolset(slug);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => upsert(toolsetScope(slug), { srcToolUrn: urn, description: `d${i}` })));
    await assertContiguous(results, toolsetScope(slug), tenant);
  });

  it("10 concurrent upserts in a project without a global group create exactly one", async () => {
    const fresh = await createTenant(server.db);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => upsert(GLOBAL, { srcToolUrn: urn, description: `d${i}` }, fresh)));
    await assertContiguous(results, GLOBAL, fresh);
    const groups = await server.db
      .selectFrom("tool_variations_groups")
      .select("id")
      .where("project_id", "=", await projectId(server.db, fresh))
      .execute();
    expect(groups).toHaveLength(1);
  });
});

describe("validation", () => {
  const urn = "tools:http:petstore:get_pet";
  // The last column is the field the message starts with, or a pattern for input
  // the protocol's own decoder rejects before the handler runs.
  const cases: [string, ScopeInit | undefined, VariationInit | undefined, string | RegExp][] = [
    ["no scope", undefined, { srcToolUrn: urn }, "scope"],
    ["an empty scope", {}, { srcToolUrn: urn }, "scope"],
    ["global and toolset_slug", { global: true, toolsetSlug: "pets" }, { srcToolUrn: urn }, "scope"],
    ["global with staging", { global: true, staging: true }, { srcToolUrn: urn }, "scope.staging"],
    ["staging without toolset_slug", { staging: true }, { srcToolUrn: urn }, "scope"],
    ["a malformed toolset_slug", { toolsetSlug: "Bad_Slug" }, { srcToolUrn: urn }, "scope.toolset_slug"],
    ["no variation", GLOBAL, undefined, "variation"],
    ["no src_tool_urn", GLOBAL, {}, "variation.src_tool_urn"],
    ["a urn of another kind", GLOBAL, { srcToolUrn: "tools:grpc:petstore:get_pet" }, "variation.src_tool_urn"],
    ["a urn with an uppercase source", GLOBAL, { srcToolUrn: "tools:http:PetStore:get_pet" }, "variation.src_tool_urn"],
    ["a urn without a name", GLOBAL, { srcToolUrn: "tools:http:petstore" }, "variation.src_tool_urn"],
    ["a urn with too many parts", GLOBAL, { srcToolUrn: "tools:http:petstore:get:pet" }, "variation.src_tool_urn"],
    ["an empty name", GLOBAL, { srcToolUrn: urn, name: "" }, "variation.name"],
    ["a name with a space", GLOBAL, { srcToolUrn: urn, name: "get pet" }, "variation.name"],
    ["a name over 128 characters", GLOBAL, { srcToolUrn: urn, name: "n".repeat(129) }, "variation.name"],
    ["a NUL in the description", GLOBAL, { srcToolUrn: urn, description: "a\u0000b" }, "variation.description"],
    ["a description over 4096 characters", GLOBAL, { srcToolUrn: urn, description: "d".repeat(4097) }, "variation.description"],
    ["a lone surrogate in the summary", GLOBAL, { srcToolUrn: urn, summary: "x\uD800y" }, /ToolVariation\.summary.*invalid UTF8/],
    ["a title over 128 characters", GLOBAL, { srcToolUrn: urn, title: "t".repeat(129) }, "variation.title"],
    ["a confirm_prompt over 4096 characters", GLOBAL, { srcToolUrn: urn, confirmPrompt: "c".repeat(4097) }, "variation.confirm_prompt"],
    ["a NUL in the summarizer", GLOBAL, { srcToolUrn: urn, summarizer: "\u0000" }, "variation.summarizer"],
    ["65 tags", GLOBAL, { srcToolUrn: urn, tags: { values: Array.from({ length: 65 }, (_, i) => `t${i}`) } }, "variation.tags"],
    ["a tag over 128 characters", GLOBAL, { srcToolUrn: urn, tags: { values: ["x".repeat(129)] } }, "variation.tags[0]"],
    ["an empty tag", GLOBAL, { srcToolUrn: urn, tags: { values: ["ok", ""] } }, "variation.tags[1]"],
    ["a duplicate tag", GLOBAL, { srcToolUrn: urn, tags: { values: ["a", "a"] } }, "variation.tags[1]"],
    ["a NUL in a tag", GLOBAL, { srcToolUrn: urn, tags: { values: ["a\u0000"] } }, "variation.tags[0]"],
  ];

  it.each(cases)("upsert with %s → INVALID_ARGUMENT, nothing written", async (_name, scope, variation, field) => {
    const before = await rowCounts();
    const err = await failure(
      api
        .toolsets()
        .upsertToolVariation(
          { project: tenant.project, ...(scope === undefined ? {} : { scope }), ...(variation === undefined ? {} : { variation }) },
          bearer(tenant.producerKey),
        ),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    if (typeof field === "string") expect(err.message.startsWith(`${field}: `)).toBe(true);
    else expect(err.message).toMatch(field);
    expect(await rowCounts()).toEqual(before);
  });

  it("the maxima themselves are accepted", async () => {
    const v = await upsert(GLOBAL, {
      srcToolUrn: `tools:http:${"s".repeat(128)}:${"N".repeat(128)}`,
      name: "n".repeat(128),
      description: "d".repeat(4096),
      title: "t".repeat(128),
      tags: { values: Array.from({ length: 64 }, (_, i) => `${i}`.padEnd(128, "x")) },
    });
    expect(v.version).toBe(1n);
    expect(v.tags?.values).toHaveLength(64);
  });

  it.each([
    ["a bad scope", { global: true, toolsetSlug: "x" }, urn, "scope"],
    ["a bad urn", GLOBAL, "tools:http:petstore", "src_tool_urn"],
    ["no urn", GLOBAL, "", "src_tool_urn"],
  ] as [string, ScopeInit, string, string][])("delete and version listing with %s → INVALID_ARGUMENT", async (_name, scope, srcToolUrn, field) => {
    const before = await rowCounts();
    for (const call of [
      () => api.toolsets().deleteToolVariation({ project: tenant.project, scope, srcToolUrn }, bearer(tenant.producerKey)),
      () => api.toolsets().listToolVariationVersions({ project: tenant.project, scope, srcToolUrn }, bearer(tenant.producerKey)),
    ]) {
      const err = await failure(call());
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.message.startsWith(`${field}: `)).toBe(true);
    }
    expect(await rowCounts()).toEqual(before);
  });

  it("list with a bad scope → INVALID_ARGUMENT", async () => {
    const err = await failure(
      api.toolsets().listToolVariations({ project: tenant.project, scope: { global: true, staging: true } }, bearer(tenant.producerKey)),
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.message).toContain("scope.staging");
  });
});

describe("tenancy and protocols", () => {
  const urn = "tools:http:petstore:tenancy";

  it("a consumer key may list but not write", async () => {
    const v = await upsert(GLOBAL, { srcToolUrn: urn, description: "x" });
    expect((await list(GLOBAL, tenant, tenant.consumerKey)).map((x) => x.id)).toContain(v.id);
    const history = await api
      .toolsets()
      .listToolVariationVersions({ project: tenant.project, scope: GLOBAL, srcToolUrn: urn }, bearer(tenant.consumerKey));
    expect(history.versions.map((x) => x.id)).toContain(v.id);
    const before = await rowCounts();
    const up = api
      .toolsets()
      .upsertToolVariation({ project: tenant.project, scope: GLOBAL, variation: { srcToolUrn: urn } }, bearer(tenant.consumerKey));
    expect((await failure(up)).code).toBe(Code.PermissionDenied);
    const del = api.toolsets().deleteToolVariation({ project: tenant.project, scope: GLOBAL, srcToolUrn: urn }, bearer(tenant.consumerKey));
    expect((await failure(del)).code).toBe(Code.PermissionDenied);
    expect(await rowCounts()).toEqual(before);
  });

  it("another organization's project → NOT_FOUND, and its variations stay apart", async () => {
    const theirs = await upsert(GLOBAL, { srcToolUrn: urn, description: "theirs" }, other);
    const before = await rowCounts();
    const asUs = { ...other, producerKey: tenant.producerKey };
    expect((await failure(list(GLOBAL, asUs))).code).toBe(Code.NotFound);
    expect((await failure(upsert(GLOBAL, { srcToolUrn: urn }, asUs))).code).toBe(Code.NotFound);
    expect((await failure(remove(GLOBAL, urn, asUs))).code).toBe(Code.NotFound);
    expect(await rowCounts()).toEqual(before);
    expect((await list(GLOBAL)).map((x) => x.id)).not.toContain(theirs.id);
    expect((await list(GLOBAL, other)).map((x) => x.id)).toEqual([theirs.id]);
  });

  it("works over gRPC", async () => {
    const grpcUrn = "tools:http:petstore:over_grpc";
    const v = await upsert(GLOBAL, { srcToolUrn: grpcUrn, tags: { values: [] }, idempotentHint: true }, tenant, "grpc");
    expect(v.version).toBe(1n);
    expect(v.tags?.values).toEqual([]);
    const res = await api
      .with({ protocol: "grpc" })
      .toolsets()
      .listToolVariations({ project: tenant.project, scope: GLOBAL }, bearer(tenant.consumerKey));
    const listed = res.variations.find((x) => x.srcToolUrn === grpcUrn);
    expect(listed).toEqual(v);
    const err = await failure(
      api
        .with({ protocol: "grpc" })
        .toolsets()
        .deleteToolVariation({ project: tenant.project, scope: GLOBAL, srcToolUrn: "tools:http:x:missing" }, bearer(tenant.producerKey)),
    );
    expect(err.code).toBe(Code.NotFound);
  });
});
