import { Code, ConnectError } from "@connectrpc/connect";
import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { ReleaseService, type Target } from "../gen/releases/v1/releases_pb.js";
import { SourceService } from "../gen/sources/v1/sources_pb.js";
import { EditingMode } from "../gen/toolsets/v1/toolsets_pb.js";
import { createTenant, projectId, uniqueSlug } from "../server/testing/fixtures.js";
import { bearer, failure, outcome } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";

const { server, tenant, other, api } = useTestServer({ tenants: 2 });
const { toolsets, auth } = api;

beforeAll(async () => {
  // A toolset every describe below may address.
  await toolsets().createToolset({ project: tenant.project, name: "Fixed", slug: "fixed" }, auth());
});

describe("iteration flow", () => {
  it("create → update → the change is served at once → no release exists", async () => {
    await server.client(SourceService).createDeployment(
      {
        project: tenant.project,
        tools: [
          { source: "petstore", name: "get_pet", httpMethod: "GET", path: "/pets/{id}", description: "Get a pet" },
          { source: "petstore", name: "add_pet", httpMethod: "POST", path: "/pets", description: "Add a pet" },
        ],
      },
      auth(),
    );
    const created = await toolsets().createToolset({ project: tenant.project, name: "Pet Store", toolUrns: ["tools:http:petstore:get_pet"] }, auth());
    expect(created.toolset?.slug).toBe("pet-store");
    expect(created.toolset?.version).toBe(1n);
    expect(created.toolset?.editingMode).toBe(EditingMode.ITERATION);

    const before = await api.resolveToolset({ slug: "pet-store" });
    expect(before.resolved?.tools.map((t) => t.urn)).toEqual(["tools:http:petstore:get_pet"]);

    const updated = await toolsets().updateToolset(
      {
        project: tenant.project,
        slug: "pet-store",
        fields: { toolUrns: ["tools:http:petstore:get_pet", "tools:http:petstore:add_pet"], name: "ignored: not in the mask" },
        updateMask: { paths: ["tool_urns"] },
        expectedVersion: 1n,
      },
      auth(),
    );
    expect(updated.toolset?.version).toBe(2n);
    expect(updated.toolset?.name).toBe("Pet Store");
    const after = await api.resolveToolset({ slug: "pet-store" });
    expect(after.resolved?.tools.map((t) => t.urn)).toEqual(["tools:http:petstore:add_pet", "tools:http:petstore:get_pet"]);
    expect(after.resolved?.etag).not.toBe(before.resolved?.etag);
    expect(after.resolved?.releaseNumber).toBe(0n);

    expect(updated.toolset?.currentReleaseNumber).toBe(0n);
    const releases = await server.db.selectFrom("toolset_releases").select("id").where("toolset_id", "=", created.toolset!.id).execute();
    expect(releases).toEqual([]);
    const versions = await server.db
      .selectFrom("toolset_versions")
      .select(["version", "tool_urns", "name"])
      .where("toolset_id", "=", created.toolset!.id)
      .orderBy("version")
      .execute();
    expect(versions).toEqual([
      { version: 1n, tool_urns: ["tools:http:petstore:get_pet"], name: "Pet Store" },
      { version: 2n, tool_urns: ["tools:http:petstore:get_pet", "tools:http:petstore:add_pet"], name: "Pet Store" },
    ]);
  });
});

describe("CreateToolset, GetToolset, DeleteToolset", () => {
  it("derives the slug, rejects a taken one, and frees it on delete", async () => {
    const name = `Ops ${uniqueSlug("t")}`;
    const { toolset } = await toolsets().createToolset({ project: tenant.project, name, description: "d" }, auth());
    const slug = toolset!.slug;
    expect(slug).toMatch(/^ops-t-[0-9a-f]{8}$/);
    expect(await outcome(toolsets().createToolset({ project: tenant.project, name: "x", slug }, auth()))).toBe(Code.AlreadyExists);
    const got = await toolsets().getToolset({ project: tenant.project, slug }, bearer(tenant.consumerKey));
    expect(got.toolset?.id).toBe(toolset!.id);
    expect(await outcome(toolsets().getToolset({ project: tenant.project, slug, staging: true }, auth()))).toBe(Code.NotFound);
    await toolsets().deleteToolset({ project: tenant.project, slug }, auth());
    expect(await outcome(toolsets().getToolset({ project: tenant.project, slug }, auth()))).toBe(Code.NotFound);
    expect(await outcome(toolsets().deleteToolset({ project: tenant.project, slug }, auth()))).toBe(Code.NotFound);
    const again = await toolsets().createToolset({ project: tenant.project, name: "again", slug }, auth());
    expect(again.toolset?.id).not.toBe(toolset!.id);
    const deleted = await server.db.selectFrom("toolsets").select("deleted_at").where("id", "=", toolset!.id).executeTakeFirstOrThrow();
    expect(deleted.deleted_at).not.toBeNull();
  });
});

describe("UpdateToolset", () => {
  it("changes only the masked paths, checks expected_version, and versions every change", async () => {
    const slug = uniqueSlug("upd");
    await toolsets().createToolset({ project: tenant.project, name: "Before", slug, description: "keep me" }, auth());
    const u1 = await toolsets().updateToolset(
      {
        project: tenant.project,
        slug,
        fields: { name: "After", description: "drop me", mcpSlug: slug, mcpEnabled: true },
        updateMask: { paths: ["name", "mcp_slug", "mcp_enabled"] },
      },
      auth(),
    );
    expect(u1.toolset).toMatchObject({ name: "After", description: "keep me", mcpSlug: slug, mcpEnabled: true, mcpIsPublic: false, version: 2n });
    expect(
      await outcome(
        toolsets().updateToolset(
          { project: tenant.project, slug, fields: { name: "x" }, updateMask: { paths: ["name"] }, expectedVersion: 1n },
          auth(),
        ),
      ),
    ).toBe(Code.Aborted);
    const same = await toolsets().updateToolset(
      { project: tenant.project, slug, fields: { name: "After" }, updateMask: { paths: ["name"] }, expectedVersion: 2n },
      auth(),
    );
    expect(same.toolset?.version).toBe(2n);
    const cleared = await toolsets().updateToolset({ project: tenant.project, slug, fields: {}, updateMask: { paths: ["mcp_slug"] } }, auth());
    expect(cleared.toolset?.mcpSlug).toBe("");
    expect(cleared.toolset?.version).toBe(3n);
  });

  it("rejects an mcp_slug used by another toolset with ALREADY_EXISTS", async () => {
    const a = uniqueSlug("a");
    const b = uniqueSlug("b");
    await toolsets().createToolset({ project: tenant.project, name: "A", slug: a }, auth());
    await toolsets().createToolset({ project: tenant.project, name: "B", slug: b }, auth());
    await toolsets().updateToolset({ project: tenant.project, slug: a, fields: { mcpSlug: a }, updateMask: { paths: ["mcp_slug"] } }, auth());
    expect(
      await outcome(
        toolsets().updateToolset({ project: tenant.project, slug: b, fields: { mcpSlug: a }, updateMask: { paths: ["mcp_slug"] } }, auth()),
      ),
    ).toBe(Code.AlreadyExists);
  });

  it("concurrent updates with the same expected_version: one wins, the others get ABORTED", async () => {
    const slug = uniqueSlug("race");
    await toolsets().createToolset({ project: tenant.project, name: "Race", slug }, auth());
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        outcome(
          toolsets().updateToolset(
            { project: tenant.project, slug, fields: { description: `d${i}` }, updateMask: { paths: ["description"] }, expectedVersion: 1n },
            auth(),
          ),
        ),
      ),
    );
    expect(results.filter((r) => r === "ok")).toHaveLength(1);
    expect(results.filter((r) => r === Code.Aborted)).toHaveLength(4);
  });
});

describe("UpdateToolset and editing modes", () => {
  it("a live toolset in staging mode refuses edits; staging = true edits its staging copy", async () => {
    const slug = uniqueSlug("stg");
    await toolsets().createToolset({ project: tenant.project, name: "Staged", slug }, auth());
    const update = (staging: boolean, description: string) =>
      toolsets().updateToolset({ project: tenant.project, slug, staging, fields: { description }, updateMask: { paths: ["description"] } }, auth());
    expect(await outcome(update(true, "no copy in iteration mode"))).toBe(Code.NotFound);
    await toolsets().switchEditingMode({ project: tenant.project, slug, mode: EditingMode.STAGING }, auth());
    const refused = await failure(update(false, "live edit"));
    expect(refused.code).toBe(Code.FailedPrecondition);
    expect(refused.message).toMatch(/staging copy/);

    const staged = await update(true, "staged edit");
    expect(staged.toolset?.isStaging).toBe(true);
    expect(staged.toolset?.description).toBe("staged edit");
    const live = await toolsets().getToolset({ project: tenant.project, slug }, auth());
    expect(live.toolset?.description).toBe("");
    expect(live.toolset?.version).toBe(1n);
    const copy = await toolsets().getToolset({ project: tenant.project, slug, staging: true }, auth());
    expect(copy.toolset?.description).toBe("staged edit");
    const list = await toolsets().listToolsets({ project: tenant.project, pageSize: 500 }, auth());
    expect(list.toolsets.filter((x) => x.slug === slug)).toHaveLength(1);
  });

  it("retrying an update that already applied succeeds without a new version", async () => {
    const slug = uniqueSlug("retry");
    await toolsets().createToolset({ project: tenant.project, name: "Retry", slug }, auth());
    const req = { project: tenant.project, slug, fields: { description: "once" }, updateMask: { paths: ["description"] }, expectedVersion: 1n };
    const first = await toolsets().updateToolset(req, auth());
    const again = await toolsets().updateToolset(req, auth());
    expect(first.toolset?.version).toBe(2n);
    expect(again.toolset?.version).toBe(2n);
    const different = await outcome(toolsets().updateToolset({ ...req, fields: { description: "twice" } }, auth()));
    expect(different).toBe(Code.Aborted);
  });
});

describe("invalid input gives INVALID_ARGUMENT and changes nothing", () => {
  const long = (n: number) => "x".repeat(n);
  const cases: [string, () => Promise<unknown>][] = [
    ["create: empty name", () => toolsets().createToolset({ project: tenant.project, name: "" }, auth())],
    ["create: name too long", () => toolsets().createToolset({ project: tenant.project, name: long(129) }, auth())],
    ["create: NUL in name", () => toolsets().createToolset({ project: tenant.project, name: "a\u0000b" }, auth())],
    ["create: lone surrogate in description", () => toolsets().createToolset({ project: tenant.project, name: "ok", description: "\ud800" }, auth())],
    ["create: description too long", () => toolsets().createToolset({ project: tenant.project, name: "ok", description: long(4097) }, auth())],
    ["create: bad slug", () => toolsets().createToolset({ project: tenant.project, name: "ok", slug: "Bad Slug" }, auth())],
    ["create: name that yields no slug", () => toolsets().createToolset({ project: tenant.project, name: "!!!" }, auth())],
    ["create: bad tool urn", () => toolsets().createToolset({ project: tenant.project, name: "ok", toolUrns: ["tools:http:Petstore:get"] }, auth())],
    [
      "create: urn of another kind",
      () => toolsets().createToolset({ project: tenant.project, name: "ok", toolUrns: ["tools:grpc:petstore:get"] }, auth()),
    ],
    [
      "create: duplicate urn",
      () => toolsets().createToolset({ project: tenant.project, name: "ok", toolUrns: ["tools:http:a:b", "tools:http:a:b"] }, auth()),
    ],
    [
      "create: too many urns",
      () =>
        toolsets().createToolset(
          { project: tenant.project, name: "ok", toolUrns: Array.from({ length: 1001 }, (_, i) => `tools:http:a:t${i}`) },
          auth(),
        ),
    ],
    ["create: resource urn with space", () => toolsets().createToolset({ project: tenant.project, name: "ok", resourceUrns: ["a b"] }, auth())],
    ["create: empty prompt name", () => toolsets().createToolset({ project: tenant.project, name: "ok", promptTemplateNames: [""] }, auth())],
    ["create: bad project slug", () => toolsets().createToolset({ project: "BAD", name: "ok" }, auth())],
    ["get: empty slug", () => toolsets().getToolset({ project: tenant.project, slug: "" }, auth())],
    ["list: negative page_size", () => toolsets().listToolsets({ project: tenant.project, pageSize: -1 }, auth())],
    ["list: tampered page_token", () => toolsets().listToolsets({ project: tenant.project, pageToken: "abc.def" }, auth())],
    ["update: empty mask", () => toolsets().updateToolset({ project: tenant.project, slug: "fixed", fields: { name: "x" } }, auth())],
    [
      "update: repeated path",
      () =>
        toolsets().updateToolset({ project: tenant.project, slug: "fixed", fields: { name: "x" }, updateMask: { paths: ["name", "name"] } }, auth()),
    ],
    [
      "resolve: unknown target",
      () => server.client(ReleaseService).resolveToolset({ project: tenant.project, slug: "fixed", target: 7 as Target }, auth()),
    ],
    [
      "update: unknown path",
      () => toolsets().updateToolset({ project: tenant.project, slug: "fixed", fields: { name: "x" }, updateMask: { paths: ["slug"] } }, auth()),
    ],
    [
      "update: bad mcp_slug",
      () =>
        toolsets().updateToolset({ project: tenant.project, slug: "fixed", fields: { mcpSlug: "-x" }, updateMask: { paths: ["mcp_slug"] } }, auth()),
    ],
    [
      "update: empty name",
      () => toolsets().updateToolset({ project: tenant.project, slug: "fixed", fields: { name: "" }, updateMask: { paths: ["name"] } }, auth()),
    ],
    [
      "update: negative expected_version",
      () =>
        toolsets().updateToolset(
          { project: tenant.project, slug: "fixed", fields: { name: "y" }, updateMask: { paths: ["name"] }, expectedVersion: -1n },
          auth(),
        ),
    ],
    [
      "update: bad urn",
      () =>
        toolsets().updateToolset(
          { project: tenant.project, slug: "fixed", fields: { toolUrns: ["nope"] }, updateMask: { paths: ["tool_urns"] } },
          auth(),
        ),
    ],
    ["delete: bad slug", () => toolsets().deleteToolset({ project: tenant.project, slug: "UPPER" }, auth())],
    ["resolve: neither slug nor mcp_slug", () => server.client(ReleaseService).resolveToolset({ project: tenant.project }, auth())],
    [
      "resolve: both slug and mcp_slug",
      () => server.client(ReleaseService).resolveToolset({ project: tenant.project, slug: "fixed", mcpSlug: "fixed" }, auth()),
    ],
    [
      "resolve: negative release_number",
      () => server.client(ReleaseService).resolveToolset({ project: tenant.project, slug: "fixed", releaseNumber: -1n }, auth()),
    ],
  ];

  it.each(cases)("%s", async (_name, call) => {
    const snapshot = async () => {
      const pid = await projectId(server.db, tenant);
      return server.db.selectFrom("toolsets").select(["id", "version", "name", "deleted_at"]).where("project_id", "=", pid).orderBy("id").execute();
    };
    const before = await snapshot();
    const err = await call().then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.InvalidArgument);
    // Our validators start with the field; the JSON decoder names the field too.
    expect(err?.rawMessage).toMatch(/^([a-z_[\]0-9.]+: |cannot decode field )/);
    expect(await snapshot()).toEqual(before);
  });

  it("a page token of another project is rejected", async () => {
    const otherTenantToken = await (async () => {
      for (let i = 0; i < 2; i++) await toolsets().createToolset({ project: other.project, name: `o${i}` }, bearer(other.producerKey));
      return (await toolsets().listToolsets({ project: other.project, pageSize: 1 }, bearer(other.producerKey))).nextPageToken;
    })();
    expect(otherTenantToken).not.toBe("");
    expect(await outcome(toolsets().listToolsets({ project: tenant.project, pageToken: otherTenantToken }, auth()))).toBe(Code.InvalidArgument);
  });
});

describe("ListToolsets pagination", () => {
  it.each([1, 2, 500])("pages of %i return the same rows in order with no duplicate or gap while rows are inserted", async (size) => {
    const t = await createTenant(server.db);
    const key = bearer(t.producerKey);
    for (const s of ["b", "d", "f", "h", "j"]) await toolsets().createToolset({ project: t.project, name: s, slug: s }, key);
    const deleted = "e";
    await toolsets().createToolset({ project: t.project, name: deleted, slug: deleted }, key);
    await toolsets().deleteToolset({ project: t.project, slug: deleted }, key);
    const seen: string[] = [];
    const after: string[] = [];
    let token = "";
    for (let i = 0; ; i++) {
      const page = await toolsets().listToolsets({ project: t.project, pageSize: size, pageToken: token }, key);
      expect(page.toolsets.length).toBeLessThanOrEqual(size);
      seen.push(...page.toolsets.map((x) => x.slug));
      token = page.nextPageToken;
      if (token === "") break;
      // Between the first pages: one toolset sorting before the cursor (must not
      // show up) and one after every existing slug (must show up on a later page).
      if (i < 3) {
        await toolsets().createToolset({ project: t.project, name: `a${i}`, slug: `a${i}` }, key);
        await toolsets().createToolset({ project: t.project, name: `z${i}`, slug: `z${i}` }, key);
        after.push(`z${i}`);
      }
    }
    expect(seen).toEqual(["b", "d", "f", "h", "j", ...after]);
  });

  it("caps page_size at 500 and defaults to 50", async () => {
    const t = await createTenant(server.db);
    const pid = await projectId(server.db, t);
    await server.db
      .insertInto("toolsets")
      .columns(["project_id", "slug", "name", "history_id"])
      .expression((eb) =>
        eb
          .selectFrom(sql<{ n: number }>`generate_series(1, 501)`.as("g"))
          .select([
            eb.val(pid).as("project_id"),
            sql<string>`'t' || lpad(g::text, 4, '0')`.as("slug"),
            sql<string>`'T'`.as("name"),
            sql<string>`generate_uuidv7()`.as("history_id"),
          ]),
      )
      .execute();
    const key = bearer(t.consumerKey);
    const big = await toolsets().listToolsets({ project: t.project, pageSize: 1000 }, key);
    expect(big.toolsets).toHaveLength(500);
    expect(big.nextPageToken).not.toBe("");
    const rest = await toolsets().listToolsets({ project: t.project, pageSize: 1000, pageToken: big.nextPageToken }, key);
    expect(rest.toolsets.map((x) => x.slug)).toEqual(["t0501"]);
    expect(rest.nextPageToken).toBe("");
    expect((await toolsets().listToolsets({ project: t.project }, key)).toolsets).toHaveLength(50);
  });
});

describe("tenancy", () => {
  const rpcs: [string, "read" | "write", (key: string, project: string) => Promise<unknown>][] = [
    ["CreateToolset", "write", (k, p) => toolsets().createToolset({ project: p, name: uniqueSlug("n") }, bearer(k))],
    ["GetToolset", "read", (k, p) => toolsets().getToolset({ project: p, slug: "fixed" }, bearer(k))],
    ["ListToolsets", "read", (k, p) => toolsets().listToolsets({ project: p }, bearer(k))],
    [
      "UpdateToolset",
      "write",
      (k, p) =>
        toolsets().updateToolset(
          { project: p, slug: "fixed", fields: { description: uniqueSlug("d") }, updateMask: { paths: ["description"] } },
          bearer(k),
        ),
    ],
    ["DeleteToolset", "write", (k, p) => toolsets().deleteToolset({ project: p, slug: "fixed" }, bearer(k))],
    ["ResolveToolset", "read", (k, p) => server.client(ReleaseService).resolveToolset({ project: p, slug: "fixed" }, bearer(k))],
  ];
  it.each(rpcs)("%s: consumer %s, other organization NOT_FOUND", async (_name, kind, call) => {
    const consumer = await outcome(call(tenant.consumerKey, tenant.project));
    if (kind === "write") expect(consumer).toBe(Code.PermissionDenied);
    else expect(consumer).toBe("ok");
    expect(await outcome(call(other.producerKey, tenant.project))).toBe(Code.NotFound);
    // Neither call touched the toolset.
    const { toolset } = await toolsets().getToolset({ project: tenant.project, slug: "fixed" }, auth());
    expect(toolset?.slug).toBe("fixed");
  });
});
