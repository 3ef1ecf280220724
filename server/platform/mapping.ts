import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { EditingMode, ToolsetSchema, type Toolset } from "../../gen/toolsets/v1/toolsets_pb.js";
import type { ToolsetRow, ToolsetWithRelease } from "../db/database.js";

// Mappers more than one service uses. Each service's own rows map to messages in
// its folder's mapping.ts; the Toolset message is here because ReleaseService
// returns it too (RollbackToRelease), and a service folder never imports another.

/** The one way a timestamptz becomes a protobuf Timestamp. */
export function toTimestamp(date: Date): Timestamp {
  return timestampFromDate(date);
}

/** A jsonb value that must be an object (schemas, prompt arguments) as a Struct's JSON. */
export function jsonObject(value: unknown): JsonObject {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as JsonObject) : {};
}

/** The four MCP tool hints as messages carry them: unset = not stated. */
export interface Hints {
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

/** The four MCP tool hints as columns store them: null = not stated. */
export interface HintColumns {
  read_only_hint: boolean | null;
  destructive_hint: boolean | null;
  idempotent_hint: boolean | null;
  open_world_hint: boolean | null;
}

/** Each MCP hint's message field with its column: the one list of them. */
export const HINTS = [
  ["readOnlyHint", "read_only_hint"],
  ["destructiveHint", "destructive_hint"],
  ["idempotentHint", "idempotent_hint"],
  ["openWorldHint", "open_world_hint"],
] as const satisfies readonly (readonly [keyof Hints, keyof HintColumns])[];

/** Stored hints as a message's fields; a null column stays unset (proto3 `optional`). */
export function toHints(row: HintColumns): Hints {
  const hints: Hints = {};
  for (const [field, column] of HINTS) {
    const value = row[column];
    if (value !== null) hints[field] = value;
  }
  return hints;
}

/** A message's hints as columns; an unset field is stored as null. */
export function hintColumns(msg: { [K in keyof Hints]?: boolean | undefined }): HintColumns {
  const columns = {} as HintColumns;
  for (const [field, column] of HINTS) columns[column] = msg[field] ?? null;
  return columns;
}

/** The API's editing mode of a toolsets row. */
export function toEditingMode(row: Pick<ToolsetRow, "editing_mode">): EditingMode {
  return row.editing_mode === "staging" ? EditingMode.STAGING : EditingMode.ITERATION;
}

/** The one mapping from a toolsets row, with the number of its current release (null = none), to the API's Toolset. */
export function toToolset(row: ToolsetWithRelease): Toolset {
  return create(ToolsetSchema, {
    id: row.id,
    projectId: row.project_id,
    slug: row.slug,
    name: row.name,
    description: row.description,
    editingMode: toEditingMode(row),
    isStaging: row.parent_toolset_id !== null,
    parentToolsetId: row.parent_toolset_id ?? "",
    currentReleaseId: row.current_release_id ?? "",
    currentReleaseNumber: row.current_release_number ?? 0n,
    toolUrns: row.tool_urns,
    resourceUrns: row.resource_urns,
    promptTemplateNames: row.prompt_template_names,
    mcpSlug: row.mcp_slug ?? "",
    mcpEnabled: row.mcp_enabled,
    mcpIsPublic: row.mcp_is_public,
    version: row.version,
    createdAt: toTimestamp(row.created_at),
    updatedAt: toTimestamp(row.updated_at),
  });
}
