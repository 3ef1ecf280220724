import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ChangeKind, ChangeSchema } from "../../gen/releases/v1/releases_pb.js";
import { breakingFirst, describeChange, fieldWords, toolNameOf } from "./changes.js";

const change = (
  kind: ChangeKind,
  init: { toolUrn?: string; promptName?: string; field?: string; before?: string; after?: string; breaking?: boolean } = {},
) => create(ChangeSchema, { kind, ...init });

describe("changes", () => {
  it("puts breaking changes first and keeps the server's order within each group", () => {
    const list = [
      change(ChangeKind.TOOL_ADDED, { toolUrn: "tools:http:a:one", after: "one" }),
      change(ChangeKind.TOOL_REMOVED, { toolUrn: "tools:http:a:two", before: "two", breaking: true }),
      change(ChangeKind.METADATA_CHANGED, { field: "description" }),
      change(ChangeKind.METADATA_CHANGED, { field: "mcp_enabled", before: "true", after: "false", breaking: true }),
    ];
    expect(breakingFirst(list).map(describeChange)).toEqual([
      "Tool removed: two",
      "Toolset MCP enabled changed",
      "Tool added: one",
      "Toolset description changed",
    ]);
    // The input is not reordered in place.
    expect(describeChange(list[0]!)).toBe("Tool added: one");
  });

  it("describes each kind in words", () => {
    expect(describeChange(change(ChangeKind.TOOL_RENAMED, { toolUrn: "tools:http:a:x", before: "x", after: "y", breaking: true }))).toBe(
      "Tool renamed: x → y",
    );
    expect(describeChange(change(ChangeKind.TOOL_CHANGED, { toolUrn: "tools:http:pets:get_pet", field: "annotations.read_only_hint" }))).toBe(
      "Tool get_pet: annotations read only hint changed",
    );
    expect(describeChange(change(ChangeKind.PROMPT_REMOVED, { promptName: "find_pet" }))).toBe("Prompt removed: find_pet");
  });

  it("reads tool names and field paths", () => {
    expect(toolNameOf("tools:http:petstore:list_pets")).toBe("list_pets");
    expect(toolNameOf("odd")).toBe("odd");
    expect(fieldWords("mcp_is_public")).toBe("MCP is public");
  });
});
