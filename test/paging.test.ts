import { Code } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { httpTool, urn } from "../server/testing/fixtures.js";
import { allPages, pageLengths } from "../server/testing/pages.js";
import { failure } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";

// The three lists that gained page_size/page_token: every item once, in order,
// whatever the page size; tokens belong to one list.

const { api } = useTestServer({ tenants: 1 });
const { sources, toolsets, auth, upsertPrompt, upsertVariation, deploy, createToolset } = api;

const PROMPTS = ["alpha", "Beta", "delta", "epsilon", "gamma", "zeta", "Ärger"];
const TOOLS = ["t1", "t2", "t3", "t4", "t5"];

beforeAll(async () => {
  for (const name of PROMPTS) await upsertPrompt(name, `prompt ${name}`);
  await sources().upsertPromptTemplate({ project: api.project, name: "alpha", prompt: "alpha, second revision" }, auth());
  await deploy(TOOLS.map((t) => httpTool(t)));
  await createToolset("paged", TOOLS);
  for (const t of TOOLS) await upsertVariation({ global: true }, { srcToolUrn: urn(t), description: `global ${t}` });
  for (let v = 1; v <= 7; v++) await upsertVariation({ toolsetSlug: "paged" }, { srcToolUrn: urn("t1"), description: `version ${v}` });
});

/** Byte order, as the lists sort names and URNs on every database. */
const byteSorted = (xs: string[]) => [...xs].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));

describe.each([1, 2, 3, 500])("pages of %i", (size) => {
  it("ListPromptTemplates: the latest revision of each template by name, once", async () => {
    const pages = await allPages(async (pageToken) => {
      const page = await sources().listPromptTemplates({ project: api.project, pageSize: size, pageToken }, auth());
      return { items: page.promptTemplates, nextPageToken: page.nextPageToken };
    });
    expect(pages.map((p) => p.length)).toEqual(pageLengths(PROMPTS.length, size));
    const all = pages.flat();
    expect(all.map((t) => t.name)).toEqual(byteSorted(PROMPTS));
    expect(all.find((t) => t.name === "alpha")?.prompt).toBe("alpha, second revision");
  });

  it("ListToolVariations: the current variation of each tool by URN, once", async () => {
    const pages = await allPages(async (pageToken) => {
      const page = await toolsets().listToolVariations({ project: api.project, scope: { global: true }, pageSize: size, pageToken }, auth());
      return { items: page.variations, nextPageToken: page.nextPageToken };
    });
    expect(pages.map((p) => p.length)).toEqual(pageLengths(TOOLS.length, size));
    expect(pages.flat().map((v) => v.description)).toEqual(TOOLS.map((t) => `global ${t}`));
  });

  it("ListToolVariationVersions: every version newest first, once", async () => {
    const pages = await allPages(async (pageToken) => {
      const page = await toolsets().listToolVariationVersions(
        { project: api.project, scope: { toolsetSlug: "paged" }, srcToolUrn: urn("t1"), pageSize: size, pageToken },
        auth(),
      );
      return { items: page.versions, nextPageToken: page.nextPageToken };
    });
    expect(pages.map((p) => p.length)).toEqual(pageLengths(7, size));
    expect(pages.flat().map((v) => v.version)).toEqual([7n, 6n, 5n, 4n, 3n, 2n, 1n]);
  });
});

describe("page tokens and sizes", () => {
  it("a token of one list is refused by another, naming page_token", async () => {
    const first = await toolsets().listToolVariations({ project: api.project, scope: { global: true }, pageSize: 1 }, auth());
    expect(first.nextPageToken).not.toBe("");
    const other = await failure(
      toolsets().listToolVariations({ project: api.project, scope: { toolsetSlug: "paged" }, pageSize: 1, pageToken: first.nextPageToken }, auth()),
    );
    expect(other.code).toBe(Code.InvalidArgument);
    expect(other.message).toMatch(/^page_token: /);
    const prompts = await failure(sources().listPromptTemplates({ project: api.project, pageToken: first.nextPageToken }, auth()));
    expect(prompts.code).toBe(Code.InvalidArgument);
  });

  it("a negative page size is INVALID_ARGUMENT on each list", async () => {
    const calls = [
      () => sources().listPromptTemplates({ project: api.project, pageSize: -1 }, auth()),
      () => toolsets().listToolVariations({ project: api.project, scope: { global: true }, pageSize: -1 }, auth()),
      () => toolsets().listToolVariationVersions({ project: api.project, scope: { global: true }, srcToolUrn: urn("t1"), pageSize: -1 }, auth()),
    ];
    for (const call of calls) expect((await failure(call())).code).toBe(Code.InvalidArgument);
  });
});
