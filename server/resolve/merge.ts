import type { JsonObject } from "@bufbuild/protobuf";
import type { HttpToolDefinitionsTable, ToolVariationsTable } from "../db/database.js";
import type { Selectable } from "kysely";

/** A tool as an MCP client sees it, before mapping to the API message. */
export interface MergedTool {
  urn: string;
  name: string;
  title: string;
  description: string;
  inputSchema: JsonObject;
  tags: string[];
  annotations: { readOnlyHint?: boolean; destructiveHint?: boolean; idempotentHint?: boolean; openWorldHint?: boolean };
  confirm: boolean;
  confirmPrompt: string;
  summarizer: string;
  httpMethod: string;
  path: string;
  serverUrl: string;
  variationIds: string[];
}

export type ToolDefinition = Selectable<HttpToolDefinitionsTable>;
export type Variation = Selectable<ToolVariationsTable>;

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
export function mergeTool(source: ToolDefinition, global: Variation | undefined, toolset: Variation | undefined): MergedTool {
  const annotations: MergedTool["annotations"] = {};
  const hints = [
    ["readOnlyHint", "read_only_hint"],
    ["destructiveHint", "destructive_hint"],
    ["idempotentHint", "idempotent_hint"],
    ["openWorldHint", "open_world_hint"],
  ] as const;
  for (const [key, column] of hints) {
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
