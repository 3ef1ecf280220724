import type { JsonObject } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import type { Deployment } from "../gen/sources/v1/sources_pb.js";
import { createApiKey } from "../server/auth/keys.js";
import { createProject } from "../server/auth/tenants.js";
import { httpTool, uniqueSlug, type ToolInit } from "../server/testing/fixtures.js";
import { bearer, PROTOCOLS, failure } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";

const { server, tenant, other, api } = useTestServer({ tenants: 2 });
const { sources, auth: producer } = api;
/** A project of the tenant with two deployments: its page tokens must not work elsewhere. */
let foreignPageToken: string;

beforeAll(async () => {
  const side = await newProject();
  for (let i = 0; i < 2; i++) await api.with({ project: side }).deploy([tool(`side_${i}`)]);
  const page = await sources().listDeployments({ project: side, pageSize: 1 }, producer());
  foreignPageToken = page.nextPageToken;
});

/** A fresh project in the tenant's organization, so a test's counts are its own. */
async function newProject(): Promise<string> {
  const slug = uniqueSlug("src");
  await createProject(server.db, { org: tenant.org, slug });
  return slug;
}

/** A tool of source "petstore", without a description unless given. */
function tool(name: string, extra: Partial<ToolInit> = {}): ToolInit {
  return httpTool(name, { source: "petstore", description: "", ...extra });
}

/** Row counts of everything SourceService writes. */
async function counts(): Promise<{ deployments: number; tools: number; prompts: number }> {
  const { rows } = await sql<{ deployments: number; tools: number; prompts: number }>`
    SELECT (SELECT count(*)::int FROM deployments) AS deployments,
           (SELECT count(*)::int FROM http_tool_definitions) AS tools,
           (SELECT count(*)::int FROM prompt_templates) AS prompts`.execute(server.db);
  return rows[0]!;
}

async function projectDeploymentCount(project: string): Promise<number> {
  const row = await server.db
    .selectFrom("deployments")
    .innerJoin("projects", "projects.id", "deployments.project_id")
    .select((eb) => eb.fn.countAll<string>().as("n"))
    .where("projects.slug", "=", project)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

describe("deployments", () => {
  it("creates a deployment that GetDeployment returns as the active one, with the same tools", async () => {
    const project = await newProject();
    const tools: ToolInit[] = [
      tool("list_pets", {
        summary: "List pets",
        description: "Lists every pet.",
        serverUrl: "https://api.example.com/v1",
        inputSchema: { type: "object", properties: { limit: { type: "integer" } }, required: ["limit"] },
        tags: ["pets", "read"],
        readOnlyHint: true,
        destructiveHint: false,
        title: "List pets",
      }),
      tool("Add.Pet-2", { source: "petstore", httpMethod: "POST", path: "/pets", idempotentHint: false, openWorldHint: true }),
      tool("get", { source: "a_other-src", httpMethod: "DELETE", path: "/things/{id}" }),
    ];
    const created = await api.with({ project }).deploy(tools);
    expect(created.seq).toBe(1n);
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.createdAt).toBeDefined();
    const urns = ["tools:http:a_other-src:get", "tools:http:petstore:Add.Pet-2", "tools:http:petstore:list_pets"];
    expect(created.toolUrns).toEqual(urns);
    // The proto: CreateDeployment leaves tools empty and lists tool_urns.
    expect(created.tools).toEqual([]);

    const active = (await sources().getDeployment({ project }, producer())).deployment!;
    expect(active.id).toBe(created.id);
    expect(active.seq).toBe(1n);
    expect(active.toolUrns).toEqual(urns);
    expect(active.tools.map((t) => t.urn)).toEqual(urns);
    const listPets = active.tools.find((t) => t.name === "list_pets")!;
    // Every field given comes back as it was sent.
    expect(listPets).toMatchObject(tools[0]!);
    expect(listPets.idempotentHint).toBeUndefined();
    expect(listPets.openWorldHint).toBeUndefined();
    const addPet = active.tools.find((t) => t.name === "Add.Pet-2")!;
    expect(addPet).toMatchObject({ httpMethod: "POST", idempotentHint: false, openWorldHint: true, serverUrl: "", tags: [] });
    expect(addPet.readOnlyHint).toBeUndefined();
    // A tool without a schema takes an object, as MCP requires.
    expect(addPet.inputSchema).toEqual({ type: "object" });

    const byId = (await sources().getDeployment({ project, id: created.id.toUpperCase() }, producer())).deployment!;
    expect(byId.tools).toEqual(active.tools);
  });

  it("numbers deployments 1, 2, 3…; the newest is active; an older one stays readable by id", async () => {
    const project = await newProject();
    const first = await api.with({ project }).deploy([tool("a"), tool("b")]);
    const second = await api.with({ project }).deploy([tool("c")]);
    const third = await api.with({ project }).deploy([tool("d")]);
    expect([first.seq, second.seq, third.seq]).toEqual([1n, 2n, 3n]);
    const active = (await sources().getDeployment({ project, id: "" }, producer())).deployment!;
    expect(active.id).toBe(third.id);
    const old = (await sources().getDeployment({ project, id: first.id }, producer())).deployment!;
    expect(old.seq).toBe(1n);
    expect(old.tools.map((t) => t.name)).toEqual(["a", "b"]);

    const list = await sources().listDeployments({ project }, producer());
    expect(list.deployments.map((d) => d.id)).toEqual([third.id, second.id, first.id]);
    expect(list.deployments.map((d) => d.toolUrns)).toEqual([
      ["tools:http:petstore:d"],
      ["tools:http:petstore:c"],
      ["tools:http:petstore:a", "tools:http:petstore:b"],
    ]);
    expect(list.deployments.every((d) => d.tools.length === 0)).toBe(true);
    expect(list.nextPageToken).toBe("");
  });

  it("returns the original deployment for a repeated idempotency_key and creates nothing", async () => {
    const project = await newProject();
    const first = await api.with({ project }).deploy([tool("a")], "deploy-1");
    const before = await counts();
    const retry = await api.with({ project }).deploy([tool("a"), tool("different")], "deploy-1");
    expect(retry.id).toBe(first.id);
    expect(retry.seq).toBe(first.seq);
    expect(retry.toolUrns).toEqual(["tools:http:petstore:a"]);
    expect(await counts()).toEqual(before);
    const next = await api.with({ project }).deploy([tool("b")], "deploy-2");
    expect(next.seq).toBe(2n);
    // Keys are per project.
    const elsewhere = await api.with({ project: await newProject() }).deploy([tool("a")], "deploy-1");
    expect(elsewhere.id).not.toBe(first.id);
    expect(elsewhere.seq).toBe(1n);
  });

  it("two concurrent calls with one idempotency_key create one deployment", async () => {
    const project = await newProject();
    const calls = await Promise.all([1, 2, 3, 4].map(() => api.with({ project }).deploy([tool("a"), tool("b")], "same-key:1")));
    expect(new Set(calls.map((d) => d.id)).size).toBe(1);
    expect(calls.every((d) => d.toolUrns.length === 2)).toBe(true);
    expect(await projectDeploymentCount(project)).toBe(1);
  });

  it("concurrent creates without a key get contiguous seqs", async () => {
    const project = await newProject();
    const calls = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => api.with({ project }).deploy([tool(`t${i}`)])));
    expect(calls.map((d) => d.seq).sort((a, b) => Number(a - b))).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
  });

  it("stores 5000 tools with a handful of multi-row inserts", async () => {
    const project = await newProject();
    const tools = Array.from({ length: 5000 }, (_, i) => tool(`op_${String(i).padStart(4, "0")}`, { description: "d".repeat(40) }));
    server.queries.length = 0;
    const created = await api.with({ project }).deploy(tools);
    const inserts = server.queries.filter((q) => /^insert into "http_tool_definitions"/i.test(q));
    expect(inserts).toHaveLength(5);
    expect(created.toolUrns).toHaveLength(5000);
    const got = (await sources().getDeployment({ project }, producer())).deployment!;
    expect(got.tools).toHaveLength(5000);
    expect(got.tools[4999]!.name).toBe("op_4999");
  });

  it("GetDeployment: NOT_FOUND without a deployment, for an unknown id and for another project's deployment", async () => {
    const empty = await newProject();
    const none = await failure(sources().getDeployment({ project: empty }, producer()));
    expect(none.code).toBe(Code.NotFound);
    expect(none.message).toMatch(/no deployment yet/);
    const unknown = await failure(sources().getDeployment({ project: empty, id: "0190a8b2-0000-7000-8000-000000000000" }, producer()));
    expect(unknown.code).toBe(Code.NotFound);
    const project = await newProject();
    const theirs = await api.with({ project }).deploy([tool("a")]);
    const cross = await failure(sources().getDeployment({ project: empty, id: theirs.id }, producer()));
    expect(cross.code).toBe(Code.NotFound);
    const list = await sources().listDeployments({ project: empty }, producer());
    expect(list.deployments).toEqual([]);
    expect(list.nextPageToken).toBe("");
  });
});

describe("invalid input → INVALID_ARGUMENT, data unchanged", () => {
  const bigSchema = { type: "object", description: "x".repeat(64 * 1024) };
  const deploy = api.deploy;
  const upsert = ({ name = "p", prompt = "", ...more }: { name?: string; prompt?: string; description?: string; arguments?: JsonObject }) =>
    api.upsertPrompt(name, prompt, more);

  // The second column is the field the message must start with, or a pattern
  // when the protocol layer rejects the value before the handler sees it.
  const cases: [string, string | RegExp, () => Promise<unknown>][] = [
    ["CreateDeployment: bad project slug", "project", () => api.with({ project: "Bad_Slug" }).deploy([tool("a")])],
    ["CreateDeployment: empty project", "project", () => api.with({ project: "" }).deploy([tool("a")])],
    ["CreateDeployment: no tools", "tools", () => deploy([])],
    ["CreateDeployment: 5001 tools", "tools", () => deploy(Array.from({ length: 5001 }, (_, i) => tool(`t${i}`)))],
    ["CreateDeployment: bad source", "tools[0].source", () => deploy([tool("a", { source: "Pet Store" })])],
    ["CreateDeployment: empty source", "tools[0].source", () => deploy([tool("a", { source: "" })])],
    ["CreateDeployment: bad name", "tools[1].name", () => deploy([tool("a"), tool("b c")])],
    ["CreateDeployment: name too long", "tools[0].name", () => deploy([tool("n".repeat(129))])],
    ["CreateDeployment: lowercase method", "tools[0].http_method", () => deploy([tool("a", { httpMethod: "get" })])],
    ["CreateDeployment: unknown method", "tools[0].http_method", () => deploy([tool("a", { httpMethod: "TRACE" })])],
    ["CreateDeployment: empty method", "tools[0].http_method", () => deploy([tool("a", { httpMethod: "" })])],
    ["CreateDeployment: relative path", "tools[0].path", () => deploy([tool("a", { path: "pets" })])],
    ["CreateDeployment: empty path", "tools[0].path", () => deploy([tool("a", { path: "" })])],
    ["CreateDeployment: path too long", "tools[0].path", () => deploy([tool("a", { path: `/${"p".repeat(2048)}` })])],
    ["CreateDeployment: ftp server_url", "tools[0].server_url", () => deploy([tool("a", { serverUrl: "ftp://example.com" })])],
    ["CreateDeployment: relative server_url", "tools[0].server_url", () => deploy([tool("a", { serverUrl: "example.com/api" })])],
    ["CreateDeployment: server_url with spaces", "tools[0].server_url", () => deploy([tool("a", { serverUrl: " https://example.com" })])],
    [
      "CreateDeployment: server_url too long",
      "tools[0].server_url",
      () => deploy([tool("a", { serverUrl: `https://example.com/${"u".repeat(2048)}` })]),
    ],
    ["CreateDeployment: input_schema of type string", "tools[0].input_schema.type", () => deploy([tool("a", { inputSchema: { type: "string" } })])],
    ["CreateDeployment: oversized input_schema", "tools[0].input_schema", () => deploy([tool("a", { inputSchema: bigSchema })])],
    [
      "CreateDeployment: NUL inside input_schema",
      "tools[0].input_schema.description",
      () => deploy([tool("a", { inputSchema: { description: "a\u0000b" } })]),
    ],
    ["CreateDeployment: NUL in description", "tools[0].description", () => deploy([tool("a", { description: "bad\u0000text" })])],
    ["CreateDeployment: lone surrogate in summary", /summary/, () => deploy([tool("a", { summary: "bad\udc00" })])],
    ["CreateDeployment: description too long", "tools[0].description", () => deploy([tool("a", { description: "d".repeat(4097) })])],
    ["CreateDeployment: title too long", "tools[0].title", () => deploy([tool("a", { title: "t".repeat(129) })])],
    ["CreateDeployment: 65 tags", "tools[0].tags", () => deploy([tool("a", { tags: Array.from({ length: 65 }, (_, i) => `t${i}`) })])],
    ["CreateDeployment: tag too long", "tools[0].tags[1]", () => deploy([tool("a", { tags: ["ok", "t".repeat(129)] })])],
    ["CreateDeployment: duplicate URN", "tools[2].name", () => deploy([tool("a"), tool("b"), tool("a", { path: "/other" })])],
    ["CreateDeployment: bad idempotency key", "idempotency_key", () => deploy([tool("a")], "has space")],
    ["CreateDeployment: idempotency key too long", "idempotency_key", () => deploy([tool("a")], "k".repeat(129))],
    ["GetDeployment: malformed id", "id", () => sources().getDeployment({ project: tenant.project, id: "not-a-uuid" }, producer())],
    ["GetDeployment: bad project slug", "project", () => sources().getDeployment({ project: "-bad" }, producer())],
    ["ListDeployments: negative page_size", "page_size", () => sources().listDeployments({ project: tenant.project, pageSize: -1 }, producer())],
    ["ListDeployments: garbage page_token", "page_token", () => sources().listDeployments({ project: tenant.project, pageToken: "abc" }, producer())],
    [
      "ListDeployments: tampered page_token",
      "page_token",
      () => {
        const [payload, sum] = foreignPageToken.split(".");
        const body = JSON.parse(Buffer.from(payload!, "base64url").toString()) as { k: string[] };
        body.k = ["999"];
        return sources().listDeployments(
          { project: tenant.project, pageToken: `${Buffer.from(JSON.stringify(body)).toString("base64url")}.${sum}` },
          producer(),
        );
      },
    ],
    [
      "ListDeployments: page_token of another project",
      "page_token",
      () => sources().listDeployments({ project: tenant.project, pageToken: foreignPageToken }, producer()),
    ],
    ["ListPromptTemplates: bad project slug", "project", () => sources().listPromptTemplates({ project: "UPPER" }, producer())],
    ["UpsertPromptTemplate: empty name", "name", () => upsert({ name: "" })],
    ["UpsertPromptTemplate: blank name", "name", () => upsert({ name: "   " })],
    ["UpsertPromptTemplate: name too long", "name", () => upsert({ name: "n".repeat(129) })],
    ["UpsertPromptTemplate: NUL in name", "name", () => upsert({ name: "a\u0000b" })],
    ["UpsertPromptTemplate: prompt too long", "prompt", () => upsert({ prompt: "p".repeat(64 * 1024 + 1) })],
    ["UpsertPromptTemplate: prompt over 64 KiB in bytes", "prompt", () => upsert({ prompt: "é".repeat(40 * 1024) })],
    ["UpsertPromptTemplate: description too long", "description", () => upsert({ description: "d".repeat(4097) })],
    ["UpsertPromptTemplate: arguments of type string", "arguments.type", () => upsert({ arguments: { type: "string" } })],
    ["UpsertPromptTemplate: bad project slug", "project", () => sources().upsertPromptTemplate({ project: "no spaces", name: "p" }, producer())],
  ];

  it.each(cases)("%s", async (_name, field, call) => {
    const before = await counts();
    const err = await failure(call());
    expect(err.code).toBe(Code.InvalidArgument);
    if (typeof field === "string") expect(err.message.startsWith(`${field}: `), err.message).toBe(true);
    else expect(err.message).toMatch(field);
    expect(await counts()).toEqual(before);
  });
});

describe("ListDeployments pagination", () => {
  it.each([1, 2, 500])("page_size %i walks every row that existed at the start once, while deployments are added", async (pageSize) => {
    const project = await newProject();
    for (let i = 0; i < 7; i++) await api.with({ project }).deploy([tool(`t${i}`), tool(`u${i}`)]);
    const start = await server.db
      .selectFrom("deployments")
      .innerJoin("projects", "projects.id", "deployments.project_id")
      .select("deployments.id")
      .where("projects.slug", "=", project)
      .orderBy("deployments.seq", "desc")
      .execute();
    const seen: Deployment[] = [];
    let token = "";
    let pages = 0;
    do {
      const page = await sources().listDeployments({ project, pageSize, pageToken: token }, bearer(tenant.consumerKey));
      expect(page.deployments.length).toBeLessThanOrEqual(pageSize);
      seen.push(...page.deployments);
      token = page.nextPageToken;
      pages++;
      await api.with({ project }).deploy([tool(`new${pages}`)]);
    } while (token !== "" && pages < 20);
    expect(seen.map((d) => d.id)).toEqual(start.map((r) => r.id));
    expect(seen.map((d) => d.seq)).toEqual([7n, 6n, 5n, 4n, 3n, 2n, 1n]);
    expect(seen.every((d) => d.toolUrns.length === 2)).toBe(true);
    expect(pages).toBe(Math.ceil(7 / pageSize));
  });

  it("reads the page's tool URNs in one query, whatever the page size", async () => {
    const project = await newProject();
    for (let i = 0; i < 5; i++) await api.with({ project }).deploy([tool(`t${i}`)]);
    server.queries.length = 0;
    const page = await sources().listDeployments({ project, pageSize: 500 }, producer());
    expect(page.deployments).toHaveLength(5);
    expect(server.queries.filter((q) => q.includes("http_tool_definitions"))).toHaveLength(1);
  });

  it("reads page_size 0 as 50 and caps large sizes at 500", async () => {
    const project = await newProject();
    // 501 deployments (seq 1..501, the project has none yet) in one statement: more than one capped page.
    const inserted = await sql`
      INSERT INTO deployments (project_id, seq)
      SELECT p.id, g
      FROM projects p JOIN organizations o ON o.id = p.organization_id, generate_series(1, 501) g
      WHERE o.slug = ${tenant.org} AND p.slug = ${project}`.execute(server.db);
    expect(inserted.numAffectedRows).toBe(501n);
    const first = await sources().listDeployments({ project, pageSize: 0 }, producer());
    expect(first.deployments).toHaveLength(50);
    expect(first.deployments.map((d) => d.seq)).toEqual(Array.from({ length: 50 }, (_, i) => BigInt(501 - i)));
    expect(first.nextPageToken).not.toBe("");
    const second = await sources().listDeployments({ project, pageSize: 0, pageToken: first.nextPageToken }, producer());
    expect(second.deployments.map((d) => d.seq)).toEqual(Array.from({ length: 50 }, (_, i) => BigInt(451 - i)));
    const big = await sources().listDeployments({ project, pageSize: 1000 }, producer());
    expect(big.deployments).toHaveLength(500);
    expect(big.deployments.at(-1)?.seq).toBe(2n);
    expect(big.nextPageToken).not.toBe("");
    const rest = await sources().listDeployments({ project, pageSize: 1000, pageToken: big.nextPageToken }, producer());
    expect(rest.deployments.map((d) => d.seq)).toEqual([1n]);
    expect(rest.deployments[0]!.toolUrns).toEqual([]);
    expect(rest.nextPageToken).toBe("");
  });
});

describe("prompt templates", () => {
  it("writes a new revision each call, chained by history_id and predecessor_id; lists only the latest", async () => {
    const project = await newProject();
    const up = (name: string, prompt: string) =>
      sources()
        .upsertPromptTemplate(
          { project, name, description: `about ${name}`, prompt, arguments: { type: "object", properties: { who: { type: "string" } } } },
          producer(),
        )
        .then((r) => r.promptTemplate!);
    const first = await up("greet", "Hello {{who}}");
    expect(first.historyId).toBe(first.id);
    expect(first.predecessorId).toBe("");
    expect(first.arguments).toEqual({ type: "object", properties: { who: { type: "string" } } });
    const second = await up("greet", "Hi {{who}}");
    expect(second.id).not.toBe(first.id);
    expect(second.historyId).toBe(first.id);
    expect(second.predecessorId).toBe(first.id);
    const third = await up("greet", "Hey {{who}}");
    expect(third.historyId).toBe(first.id);
    expect(third.predecessorId).toBe(second.id);
    const alpha = await up("Alpha", "A");
    expect(alpha.historyId).toBe(alpha.id);

    const list = (await sources().listPromptTemplates({ project }, bearer(tenant.consumerKey))).promptTemplates;
    expect(list.map((p) => [p.name, p.id])).toEqual([
      ["Alpha", alpha.id],
      ["greet", third.id],
    ]);
    expect(list[1]!.prompt).toBe("Hey {{who}}");

    const stored = await server.db.selectFrom("prompt_templates").selectAll().where("id", "=", first.id).executeTakeFirstOrThrow();
    expect(stored).toMatchObject({
      history_id: first.id,
      predecessor_id: null,
      name: "greet",
      prompt: "Hello {{who}}",
      description: "about greet",
      deleted_at: null,
    });
    expect(stored.created_at.getTime()).toBe(Number(first.createdAt!.seconds) * 1000 + Math.floor(first.createdAt!.nanos / 1e6));
  });

  it("concurrent upserts of one new name form one linear history", async () => {
    const project = await newProject();
    const revisions = await Promise.all(
      [1, 2, 3, 4, 5].map((i) =>
        sources()
          .upsertPromptTemplate({ project, name: "race", prompt: `v${i}` }, producer())
          .then((r) => r.promptTemplate!),
      ),
    );
    const history = new Set(revisions.map((r) => r.historyId));
    expect(history.size).toBe(1);
    const roots = revisions.filter((r) => r.predecessorId === "");
    expect(roots).toHaveLength(1);
    expect(roots[0]!.id).toBe([...history][0]);
    expect(new Set(revisions.map((r) => r.predecessorId)).size).toBe(5);
    const list = (await sources().listPromptTemplates({ project }, producer())).promptTemplates;
    expect(list).toHaveLength(1);
    // The latest is the one no other revision names as predecessor.
    const preds = new Set(revisions.map((r) => r.predecessorId));
    expect(preds.has(list[0]!.id)).toBe(false);
  });

  it("unset arguments are stored as an empty object; a deleted template is not listed, nor its older revisions", async () => {
    const project = await newProject();
    const plain = (await sources().upsertPromptTemplate({ project, name: "plain", prompt: "x" }, producer())).promptTemplate!;
    expect(plain.arguments).toEqual({});
    await sources().upsertPromptTemplate({ project, name: "gone", prompt: "1" }, producer());
    const gone = (await sources().upsertPromptTemplate({ project, name: "gone", prompt: "2" }, producer())).promptTemplate!;
    await server.db.updateTable("prompt_templates").set({ deleted_at: new Date() }).where("id", "=", gone.id).execute();
    const list = (await sources().listPromptTemplates({ project }, producer())).promptTemplates;
    expect(list.map((p) => p.name)).toEqual(["plain"]);
    const again = (await sources().upsertPromptTemplate({ project, name: "gone", prompt: "3" }, producer())).promptTemplate!;
    expect(again.predecessorId).toBe("");
    expect(again.historyId).toBe(again.id);
  });
});

describe("tenancy and protocols", () => {
  it("a consumer key reads but cannot write", async () => {
    const project = await newProject();
    await api.with({ project }).deploy([tool("a")]);
    const consumer = bearer(tenant.consumerKey);
    expect((await sources().getDeployment({ project }, consumer)).deployment!.toolUrns).toEqual(["tools:http:petstore:a"]);
    expect((await sources().listDeployments({ project }, consumer)).deployments).toHaveLength(1);
    expect((await sources().listPromptTemplates({ project }, consumer)).promptTemplates).toEqual([]);
    const before = await counts();
    expect((await failure(sources().createDeployment({ project, tools: [tool("b")] }, consumer))).code).toBe(Code.PermissionDenied);
    expect((await failure(sources().upsertPromptTemplate({ project, name: "p", prompt: "x" }, consumer))).code).toBe(Code.PermissionDenied);
    expect(await counts()).toEqual(before);
  });

  it("another organization's key naming this project gets NOT_FOUND for reads and writes", async () => {
    const project = await newProject();
    const deployment = await api.with({ project }).deploy([tool("a")]);
    const key = bearer(other.producerKey);
    const before = await counts();
    const calls = [
      () => sources().getDeployment({ project, id: deployment.id }, key),
      () => sources().listDeployments({ project }, key),
      () => sources().listPromptTemplates({ project }, key),
      () => sources().createDeployment({ project, tools: [tool("b")] }, key),
      () => sources().upsertPromptTemplate({ project, name: "p", prompt: "x" }, key),
    ];
    for (const call of calls) expect((await failure(call())).code).toBe(Code.NotFound);
    expect(await counts()).toEqual(before);
  });

  it("a key bound to another project gets PERMISSION_DENIED", async () => {
    const project = await newProject();
    const boundTo = await newProject();
    const bound = await createApiKey(server.db, { org: tenant.org, scope: "producer", project: boundTo, name: uniqueSlug("bound") });
    expect((await failure(sources().listDeployments({ project }, bearer(bound.key)))).code).toBe(Code.PermissionDenied);
    expect((await failure(sources().createDeployment({ project, tools: [tool("a")] }, bearer(bound.key)))).code).toBe(Code.PermissionDenied);
    expect((await sources().createDeployment({ project: boundTo, tools: [tool("a")] }, bearer(bound.key))).deployment!.seq).toBe(1n);
  });

  it.each(PROTOCOLS)("writes and reads over %s", async (protocol) => {
    const project = await newProject();
    const client = api.with({ protocol }).sources();
    const schema = {
      type: "object",
      properties: { n: { type: "number", minimum: 1.5 }, tags: { type: "array", items: { type: "string" } } },
      additionalProperties: false,
    };
    const created = (
      await client.createDeployment(
        { project, idempotencyKey: `k:${protocol}`, tools: [tool("a", { inputSchema: schema, readOnlyHint: false })] },
        producer(),
      )
    ).deployment!;
    expect(created.seq).toBe(1n);
    const got = (await client.getDeployment({ project, id: created.id }, bearer(tenant.consumerKey))).deployment!;
    expect(got.tools[0]!.inputSchema).toEqual(schema);
    expect(got.tools[0]!.readOnlyHint).toBe(false);
    const listed = await client.listDeployments({ project, pageSize: 1 }, bearer(tenant.consumerKey));
    expect(listed.deployments.map((d) => d.id)).toEqual([created.id]);
    const prompt = (await client.upsertPromptTemplate({ project, name: "p", prompt: "x", arguments: { type: "object" } }, producer()))
      .promptTemplate!;
    const prompts = (await client.listPromptTemplates({ project }, bearer(tenant.consumerKey))).promptTemplates;
    expect(prompts.map((p) => p.id)).toEqual([prompt.id]);
    const bad = await failure(client.createDeployment({ project, tools: [tool("a", { httpMethod: "get" })] }, producer()));
    expect(bad.code).toBe(Code.InvalidArgument);
    const denied = await failure(client.createDeployment({ project, tools: [tool("a")] }, bearer(tenant.consumerKey)));
    expect(denied.code).toBe(Code.PermissionDenied);
  });
});
