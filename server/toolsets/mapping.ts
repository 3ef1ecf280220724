import { create } from "@bufbuild/protobuf";
import { EditingMode, ToolsetSchema, type Toolset } from "../../gen/toolsets/v1/toolsets_pb.js";
import type { ToolsetRow } from "../db/database.js";
import { toTimestamp } from "../platform/mapping.js";

/** A toolset row with the number of its current release (0 = none). */
export type ToolsetWithRelease = ToolsetRow & { current_release_number: bigint | null };

/** The API's editing mode of a toolsets row. */
export function toEditingMode(row: Pick<ToolsetRow, "editing_mode">): EditingMode {
  return row.editing_mode === "staging" ? EditingMode.STAGING : EditingMode.ITERATION;
}

/** The one mapping from a toolsets row to the API's Toolset. */
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
