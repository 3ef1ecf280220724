import type { JsonObject } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ChangeKind, type Change } from "../gen/releases/v1/releases_pb.js";
import { diffResolved, type DiffMetadata, type DiffSide } from "../server/releases/diff.js";
import type { ResolvedPromptContent } from "../server/resolve/etag.js";
import type { MergedTool } from "../server/resolve/merge.js";

const URN = "tools:http:petstore:get_pet";

function tool(urn: string, overrides: Partial<MergedTool> = {}): MergedTool {
  return {
    urn,
    name: urn.split(":").at(-1) ?? urn,
    title: "Get a pet",
    description: "Returns one pet.",
    inputSchema: { type: "object", properties: { id: { type: "string" } }, required: ["id"] },
    tags: ["pets"],
    annotations: { readOnlyHint: true },
    confirm: false,
    confirmPrompt: "",
    summarizer: "",
    httpMethod: "GET",
    path: "/pets/{id}",
    serverUrl: "https://petstore.example",
    variationIds: [],
    ...overrides,
  };
}

function prompt(name: string, overrides: Partial<ResolvedPromptContent> = {}): ResolvedPromptContent {
  return { name, description: "Greets.", prompt: "Say hello to {{name}}.", arguments: { name: { type: "string" } }, ...overrides };
}

const METADATA: DiffMetadata = { name: "Pets", description: "Pet tools", mcpSlug: "pets", mcpEnabled: true, mcpIsPublic: false };

function side(init: { metadata?: Partial<DiffMetadata>; tools?: MergedTool[]; prompts?: ResolvedPromptContent[] } = {}): DiffSide {
  return { metadata: { ...METADATA, ...init.metadata }, tools: init.tools ?? [], prompts: init.prompts ?? [] };
}

/** The fields of each change, without the message's $typeName, for readable equality. */
function plain(changes: Change[]) {
  return changes.map((c) => change(c.kind, c.toolUrn, c.promptName, c.field, c.before, c.after, c.breaking));
}

/** Diffs one tool against a changed copy of itself. */
function diffTool(from: Partial<MergedTool>, to: Partial<MergedTool>) {
  return plain(diffResolved(side({ tools: [tool(URN, from)] }), side({ tools: [tool(URN, to)] })));
}

function diffSchema(from: JsonObject, to: JsonObject) {
  return diffTool({ inputSchema: from }, { inputSchema: to });
}

/** A change as `plain` shows it. */
const change = (kind: ChangeKind, toolUrn: string, promptName: string, field: string, before: string, after: string, breaking: boolean) => ({
  kind,
  toolUrn,
  promptName,
  field,
  before,
  after,
  breaking,
});

const toolChange = (field: string, before: string, after: string, breaking: boolean) =>
  change(ChangeKind.TOOL_CHANGED, URN, "", field, before, after, breaking);

describe("diffResolved", () => {
  it("returns no change for identical sides, compared by value", () => {
    const build = () => side({ tools: [tool(URN), tool("tools:http:petstore:list_pets")], prompts: [prompt("greet")] });
    expect(diffResolved(build(), build())).toEqual([]);
    expect(diffResolved(side(), side())).toEqual([]);
  });

  it("ignores variationIds and the order of tools and prompts", () => {
    const a = tool("tools:http:a:a");
    const b = tool("tools:http:a:b");
    const from = side({ tools: [a, { ...b, variationIds: ["v1"] }], prompts: [prompt("x"), prompt("y")] });
    const to = side({ tools: [{ ...b, variationIds: ["v2", "v3"] }, a], prompts: [prompt("y"), prompt("x")] });
    expect(diffResolved(from, to)).toEqual([]);
  });

  it("ignores object key order in schemas and arguments", () => {
    const from = side({ tools: [tool(URN, { inputSchema: { type: "object", properties: { id: { type: "string", format: "uuid" } } } })] });
    const to = side({ tools: [tool(URN, { inputSchema: { properties: { id: { format: "uuid", type: "string" } }, type: "object" } })] });
    expect(diffResolved(from, to)).toEqual([]);
  });

  it("reports a removed tool as breaking, with its name before", () => {
    expect(plain(diffResolved(side({ tools: [tool(URN)] }), side()))).toEqual([
      { kind: ChangeKind.TOOL_REMOVED, toolUrn: URN, promptName: "", field: "", before: "get_pet", after: "", breaking: true },
    ]);
  });

  it("reports an added tool as not breaking, with its name after", () => {
    expect(plain(diffResolved(side(), side({ tools: [tool(URN)] })))).toEqual([
      { kind: ChangeKind.TOOL_ADDED, toolUrn: URN, promptName: "", field: "", before: "", after: "get_pet", breaking: false },
    ]);
  });

  it("reports a renamed tool as breaking, with both names", () => {
    expect(diffTool({ name: "get_pet" }, { name: "fetch_pet" })).toEqual([
      { kind: ChangeKind.TOOL_RENAMED, toolUrn: URN, promptName: "", field: "name", before: "get_pet", after: "fetch_pet", breaking: true },
    ]);
  });

  it("reports a description change as not breaking", () => {
    expect(diffTool({ description: "Old." }, { description: "New." })).toEqual([toolChange("description", "Old.", "New.", false)]);
  });

  it("reports each plain text field by its proto name", () => {
    const from: Partial<MergedTool> = { title: "t1", confirmPrompt: "p1", summarizer: "s1", httpMethod: "GET", path: "/a", serverUrl: "https://a" };
    const to: Partial<MergedTool> = { title: "t2", confirmPrompt: "p2", summarizer: "s2", httpMethod: "POST", path: "/b", serverUrl: "https://b" };
    expect(diffTool(from, to)).toEqual([
      toolChange("title", "t1", "t2", false),
      toolChange("confirm_prompt", "p1", "p2", false),
      toolChange("summarizer", "s1", "s2", false),
      toolChange("http_method", "GET", "POST", false),
      toolChange("path", "/a", "/b", false),
      toolChange("server_url", "https://a", "https://b", false),
    ]);
  });

  it("reports tags as canonical JSON", () => {
    expect(diffTool({ tags: ["pets"] }, { tags: ["pets", "read"] })).toEqual([toolChange("tags", '["pets"]', '["pets","read"]', false)]);
    expect(diffTool({ tags: ["a", "b"] }, { tags: ["b", "a"] })).toEqual([toolChange("tags", '["a","b"]', '["b","a"]', false)]);
  });

  it("reports each annotation hint separately, unset as empty", () => {
    const from: Partial<MergedTool> = { annotations: { readOnlyHint: true, openWorldHint: false } };
    const to: Partial<MergedTool> = { annotations: { readOnlyHint: false, destructiveHint: true, openWorldHint: false } };
    expect(diffTool(from, to)).toEqual([
      toolChange("annotations.read_only_hint", "true", "false", false),
      toolChange("annotations.destructive_hint", "", "true", false),
    ]);
    expect(diffTool({ annotations: { idempotentHint: false } }, { annotations: {} })).toEqual([
      toolChange("annotations.idempotent_hint", "false", "", false),
    ]);
    expect(diffTool({ annotations: {} }, { annotations: { openWorldHint: true } })).toEqual([
      toolChange("annotations.open_world_hint", "", "true", false),
    ]);
  });

  it("reports confirmation newly required as breaking, and dropped as not", () => {
    expect(diffTool({ confirm: false }, { confirm: true })).toEqual([toolChange("confirm", "false", "true", true)]);
    expect(diffTool({ confirm: true }, { confirm: false })).toEqual([toolChange("confirm", "true", "false", false)]);
  });

  describe("input_schema", () => {
    const base = { type: "object", properties: { id: { type: "string" } }, required: ["id"] };

    it("reports a new required property as breaking through required", () => {
      expect(diffSchema(base, { ...base, properties: { id: { type: "string" }, owner: { type: "string" } }, required: ["id", "owner"] })).toEqual([
        toolChange("input_schema.properties.owner", "", '{"type":"string"}', false),
        toolChange("input_schema.required", '["id"]', '["id","owner"]', true),
      ]);
    });

    it("reports a new optional property as not breaking", () => {
      expect(diffSchema(base, { ...base, properties: { id: { type: "string" }, limit: { type: "integer" } } })).toEqual([
        toolChange("input_schema.properties.limit", "", '{"type":"integer"}', false),
      ]);
    });

    it("reports a removed property as breaking", () => {
      const from = { ...base, properties: { id: { type: "string" }, verbose: { type: "boolean" } } };
      expect(diffSchema(from, base)).toEqual([toolChange("input_schema.properties.verbose", '{"type":"boolean"}', "", true)]);
    });

    it("reports a changed property type as breaking, including a widened type list", () => {
      expect(diffSchema(base, { ...base, properties: { id: { type: "integer" } } })).toEqual([
        toolChange("input_schema.properties.id", '{"type":"string"}', '{"type":"integer"}', true),
      ]);
      expect(diffSchema(base, { ...base, properties: { id: { type: ["string", "null"] } } })).toEqual([
        toolChange("input_schema.properties.id", '{"type":"string"}', '{"type":["string","null"]}', true),
      ]);
    });

    it("reports a changed property description as not breaking", () => {
      const from = { ...base, properties: { id: { type: "string", description: "The id." } } };
      const to = { ...base, properties: { id: { description: "The pet id.", type: "string" } } };
      expect(diffSchema(from, to)).toEqual([
        toolChange("input_schema.properties.id", '{"description":"The id.","type":"string"}', '{"description":"The pet id.","type":"string"}', false),
      ]);
    });

    it("reports an optional property becoming required as breaking", () => {
      const from = { ...base, properties: { id: { type: "string" }, name: { type: "string" } }, required: ["id"] };
      expect(diffSchema(from, { ...from, required: ["name", "id"] })).toEqual([toolChange("input_schema.required", '["id"]', '["id","name"]', true)]);
    });

    it("reports a dropped requirement as not breaking", () => {
      expect(diffSchema(base, { ...base, required: [] })).toEqual([toolChange("input_schema.required", '["id"]', "[]", false)]);
      const unrequired = { type: "object", properties: { id: { type: "string" } } };
      expect(diffSchema(base, unrequired)).toEqual([toolChange("input_schema.required", '["id"]', "[]", false)]);
    });

    it("compares required as a set", () => {
      expect(diffSchema({ ...base, required: ["a", "b"] }, { ...base, required: ["b", "a", "a"] })).toEqual([]);
    });

    it("treats a missing or malformed properties and required as empty", () => {
      expect(diffSchema({ type: "object" }, { type: "object", properties: {}, required: [] })).toEqual([]);
      expect(diffSchema({ type: "object", properties: [], required: "id" }, { type: "object", properties: {}, required: [] })).toEqual([]);
      expect(diffSchema({ type: "object" }, { type: "object", properties: { q: { type: "string" } } })).toEqual([
        toolChange("input_schema.properties.q", "", '{"type":"string"}', false),
      ]);
    });

    it("reports other top-level keys once as the whole schema, not breaking", () => {
      const to = { ...base, additionalProperties: false };
      expect(diffSchema(base, to)).toEqual([
        toolChange(
          "input_schema",
          '{"properties":{"id":{"type":"string"}},"required":["id"],"type":"object"}',
          '{"additionalProperties":false,"properties":{"id":{"type":"string"}},"required":["id"],"type":"object"}',
          false,
        ),
      ]);
    });

    it("does not report the whole schema when only properties and required differ", () => {
      const changes = diffSchema(base, { ...base, properties: {}, required: [] });
      expect(changes.map((c) => c.field)).toEqual(["input_schema.properties.id", "input_schema.required"]);
    });

    it("orders properties by byte order, then required, then the whole schema", () => {
      const from = { type: "object", properties: { b: { type: "string" }, Z: { type: "string" } } };
      const to = { type: "object", properties: { a: { type: "string" }, Z: { type: "number" }, é: { type: "string" } }, required: ["a"], $defs: {} };
      expect(diffSchema(from, to).map((c) => [c.field, c.breaking])).toEqual([
        ["input_schema.properties.Z", true],
        ["input_schema.properties.a", false],
        ["input_schema.properties.b", true],
        ["input_schema.properties.é", false],
        ["input_schema.required", true],
        ["input_schema", false],
      ]);
    });
  });

  it("reports prompts added, removed and changed", () => {
    const from = side({ prompts: [prompt("greet"), prompt("old")] });
    const to = side({ prompts: [prompt("greet", { description: "Greets warmly.", prompt: "Hi {{name}}!", arguments: {} }), prompt("new")] });
    const promptChange = (kind: ChangeKind, promptName: string, field: string, before: string, after: string, breaking: boolean) =>
      change(kind, "", promptName, field, before, after, breaking);
    expect(plain(diffResolved(from, to))).toEqual([
      promptChange(ChangeKind.PROMPT_CHANGED, "greet", "description", "Greets.", "Greets warmly.", false),
      promptChange(ChangeKind.PROMPT_CHANGED, "greet", "prompt", "Say hello to {{name}}.", "Hi {{name}}!", false),
      promptChange(ChangeKind.PROMPT_CHANGED, "greet", "arguments", '{"name":{"type":"string"}}', "{}", false),
      promptChange(ChangeKind.PROMPT_ADDED, "new", "", "", "", false),
      promptChange(ChangeKind.PROMPT_REMOVED, "old", "", "", "", true),
    ]);
  });

  describe("metadata", () => {
    const diffMetadata = (from: Partial<DiffMetadata>, to: Partial<DiffMetadata>) =>
      plain(diffResolved(side({ metadata: from }), side({ metadata: to })));
    const metadataChange = (field: string, before: string, after: string, breaking: boolean) =>
      change(ChangeKind.METADATA_CHANGED, "", "", field, before, after, breaking);

    it("reports every field in order, booleans as text", () => {
      const from: DiffMetadata = { name: "A", description: "d1", mcpSlug: "", mcpEnabled: false, mcpIsPublic: false };
      const to: DiffMetadata = { name: "B", description: "d2", mcpSlug: "x", mcpEnabled: true, mcpIsPublic: true };
      expect(diffMetadata(from, to)).toEqual([
        metadataChange("name", "A", "B", false),
        metadataChange("description", "d1", "d2", false),
        metadataChange("mcp_slug", "", "x", false),
        metadataChange("mcp_enabled", "false", "true", false),
        metadataChange("mcp_is_public", "false", "true", false),
      ]);
    });

    it("reports MCP turned off as breaking", () => {
      expect(diffMetadata({ mcpEnabled: true }, { mcpEnabled: false })).toEqual([metadataChange("mcp_enabled", "true", "false", true)]);
    });

    it("reports a slug set for the first time as not breaking, and a moved or cleared slug as breaking", () => {
      expect(diffMetadata({ mcpSlug: "" }, { mcpSlug: "x" })).toEqual([metadataChange("mcp_slug", "", "x", false)]);
      expect(diffMetadata({ mcpSlug: "x" }, { mcpSlug: "y" })).toEqual([metadataChange("mcp_slug", "x", "y", true)]);
      expect(diffMetadata({ mcpSlug: "x" }, { mcpSlug: "" })).toEqual([metadataChange("mcp_slug", "x", "", true)]);
    });

    it("reports a public endpoint made private as breaking, and made public as not", () => {
      expect(diffMetadata({ mcpIsPublic: true }, { mcpIsPublic: false })).toEqual([metadataChange("mcp_is_public", "true", "false", true)]);
      expect(diffMetadata({ mcpIsPublic: false }, { mcpIsPublic: true })).toEqual([metadataChange("mcp_is_public", "false", "true", false)]);
    });
  });

  it("orders tools by URN in byte order with fields in a fixed order, then prompts, then metadata, stably", () => {
    const a = "tools:http:src:Zeta";
    const b = "tools:http:src:alpha";
    const c = "tools:http:src:beta";
    const d = "tools:http:src:émile";
    const from = side({
      metadata: { description: "old" },
      tools: [tool(d), tool(c, { name: "beta", confirm: false, description: "x", tags: [] }), tool(b)],
      prompts: [prompt("b"), prompt("B")],
    });
    const to = side({
      metadata: { description: "new", name: "Renamed" },
      tools: [tool(c, { name: "beta2", confirm: true, description: "y", tags: ["t"], inputSchema: { type: "object" } }), tool(a), tool(d)],
      prompts: [prompt("a"), prompt("B", { prompt: "changed" })],
    });
    const expected = [
      [ChangeKind.TOOL_ADDED, a, "", ""],
      [ChangeKind.TOOL_REMOVED, b, "", ""],
      [ChangeKind.TOOL_RENAMED, c, "", "name"],
      [ChangeKind.TOOL_CHANGED, c, "", "description"],
      [ChangeKind.TOOL_CHANGED, c, "", "tags"],
      [ChangeKind.TOOL_CHANGED, c, "", "confirm"],
      [ChangeKind.TOOL_CHANGED, c, "", "input_schema.properties.id"],
      [ChangeKind.TOOL_CHANGED, c, "", "input_schema.required"],
      [ChangeKind.PROMPT_CHANGED, "", "B", "prompt"],
      [ChangeKind.PROMPT_ADDED, "", "a", ""],
      [ChangeKind.PROMPT_REMOVED, "", "b", ""],
      [ChangeKind.METADATA_CHANGED, "", "", "name"],
      [ChangeKind.METADATA_CHANGED, "", "", "description"],
    ];
    const summary = (changes: Change[]) => changes.map((x) => [x.kind, x.toolUrn, x.promptName, x.field]);
    expect(summary(diffResolved(from, to))).toEqual(expected);

    // Any input order gives the same list.
    const shuffled = { ...to, tools: [...to.tools].reverse(), prompts: [...to.prompts].reverse() };
    expect(summary(diffResolved({ ...from, tools: [...from.tools].reverse() }, shuffled))).toEqual(expected);
  });
});
