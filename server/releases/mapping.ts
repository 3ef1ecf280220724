import { create } from "@bufbuild/protobuf";
import {
  ReleaseEventKind,
  ReleaseEventSchema,
  ReleaseSchema,
  ResolvedToolsetSchema,
  type Release,
  type ReleaseEvent,
  type ResolvedToolset,
} from "../../gen/releases/v1/releases_pb.js";
import type { ReleaseEventKindColumn, ToolsetRow } from "../db/database.js";
import type { EventWithNumbers, ReleaseState } from "../model/releases.js";
import { toEditingMode, toTimestamp } from "../platform/mapping.js";
import type { ResolvedContent } from "../resolve/resolve.js";
import type { TargetState } from "../resolve/targets.js";

/** The one mapping from a stored release to the API's Release; `currentReleaseId` is the live pointer of its toolset. */
export function toRelease({ release, deploymentId, systemSourceStateId, state }: ReleaseState, currentReleaseId: string | null): Release {
  return create(ReleaseSchema, {
    id: release.id,
    toolsetId: release.toolset_id,
    releaseNumber: release.release_number,
    notes: release.notes,
    releasedBy: release.released_by,
    createdAt: toTimestamp(release.created_at),
    isCurrent: release.id === currentReleaseId,
    sourceStateId: release.source_state_id,
    deploymentId: deploymentId ?? "",
    systemSourceStateId,
    toolsetVersionId: release.toolset_version_id,
    globalVariationsVersionId: release.global_variations_version_id ?? "",
    toolsetVariationsVersionId: release.toolset_variations_version_id ?? "",
    toolUrns: state.tool_urns,
    etag: release.etag,
  });
}

const EVENT_KINDS: Record<ReleaseEventKindColumn, ReleaseEventKind> = {
  published: ReleaseEventKind.PUBLISHED,
  rolled_back: ReleaseEventKind.ROLLED_BACK,
  mode_switched: ReleaseEventKind.MODE_SWITCHED,
};

/** The API's ReleaseEvent of a stored event. */
export function toReleaseEvent(row: EventWithNumbers): ReleaseEvent {
  return create(ReleaseEventSchema, {
    id: row.id,
    kind: EVENT_KINDS[row.kind],
    actor: row.actor,
    fromReleaseNumber: row.from_release_number ?? 0n,
    toReleaseNumber: row.to_release_number ?? 0n,
    notes: row.notes,
    createdAt: toTimestamp(row.created_at),
  });
}

/** A live toolset's target resolved, as the API shows it; merged tools and prompts already have the message's shape. */
export function toResolved(live: ToolsetRow, target: TargetState, content: ResolvedContent): ResolvedToolset {
  return create(ResolvedToolsetSchema, {
    toolsetId: live.id,
    slug: live.slug,
    name: target.state.name,
    description: target.state.description,
    mcpSlug: target.state.mcp_slug ?? "",
    editingMode: toEditingMode(live),
    releaseNumber: target.releaseNumber,
    etag: content.etag,
    tools: content.tools,
    prompts: content.prompts,
    mcpEnabled: target.state.mcp_enabled,
    mcpIsPublic: target.state.mcp_is_public,
  });
}
