import type { JsonObject } from "@bufbuild/protobuf";
import type { ResolvedTool } from "../../gen/releases/v1/releases_pb.js";
import type { HttpToolDefinitionRow, ToolVariationRow } from "../db/database.js";
import { HINTS, type Hints } from "../platform/mapping.js";

/**
 * A tool as an MCP client sees it: the fields of the API's ResolvedTool, with the
 * schema and the annotations always present. Mapped to the message as it is.
 */
export type MergedTool = Omit<ResolvedTool, "$typeName" | "$unknown" | "inputSchema" | "annotations"> & {
  inputSchema: JsonObject;
  annotations: Hints;
};

/** First non-null value: the toolset override, then the global one, then the source's. */
function pick<T>(toolset: T | null | undefined, global: T | null | undefined, source: T): T {
  if (toolset !== null && toolset !== undefined) return toolset;
  if (global !== null && global !== undefined) return global;
  return source;
}

function pickHint(toolset: boolean | null | undefined, global: boolean | null | undefined, source: boolean | null): boolean | undefined {
  return pick<boolean | null>(toolset, global, source) ?? undefined;
}

/**
 * Merges field by field: source definition ← global variation ← toolset
 * variation. A null override inherits; an explicit value, even "" or [], wins.
 */
export function mergeTool(source: HttpToolDefinitionRow, global: ToolVariationRow | undefined, toolset: ToolVariationRow | undefined): MergedTool {
  const annotations: Hints = {};
  for (const [key, column] of HINTS) {
    const v = pickHint(toolset?.[column], global?.[column], source[column]);
    if (v !== undefined) annotations[key] = v;
  }
  return {
    urn: source.tool_urn,
    name: pick(toolset?.name, global?.name, source.name),
    title: pick(toolset?.title, global?.title, source.title),
    description: pick(toolset?.description, global?.description, source.description),
    inputSchema: source.input_schema as JsonObject,
    tags: pick(toolset?.tags, global?.tags, source.tags),
    annotations,
    confirm: pick(toolset?.confirm, global?.confirm, false),
    confirmPrompt: pick(toolset?.confirm_prompt, global?.confirm_prompt, ""),
    summarizer: pick(toolset?.summarizer, global?.summarizer, ""),
    httpMethod: source.http_method,
    path: source.path,
    serverUrl: source.server_url,
    variationIds: [global?.id, toolset?.id].filter((id): id is string => id !== undefined),
  };
}
