import { create } from "@bufbuild/protobuf";
import { StringListSchema, ToolVariationSchema, type ToolVariation } from "../../gen/toolsets/v1/toolsets_pb.js";
import type { ToolVariationRow } from "../db/database.js";
import { toHints, toTimestamp } from "../platform/mapping.js";

// The Toolset message is mapped in platform/mapping.ts (toToolset): ReleaseService returns it too.

/** A stored variation version as the API shows it: null columns stay unset (inherit). */
export function toToolVariation(row: ToolVariationRow): ToolVariation {
  return create(ToolVariationSchema, {
    id: row.id,
    groupId: row.group_id,
    srcToolUrn: row.src_tool_urn,
    version: row.version,
    predecessorId: row.predecessor_id ?? "",
    name: row.name ?? undefined,
    description: row.description ?? undefined,
    summary: row.summary ?? undefined,
    title: row.title ?? undefined,
    confirm: row.confirm ?? undefined,
    confirmPrompt: row.confirm_prompt ?? undefined,
    summarizer: row.summarizer ?? undefined,
    tags: row.tags === null ? undefined : create(StringListSchema, { values: row.tags }),
    ...toHints(row),
    createdAt: toTimestamp(row.created_at),
  });
}
