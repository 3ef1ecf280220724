import { create } from "@bufbuild/protobuf";
import { ReleaseEventKind, ReleaseEventSchema, ReleaseSchema, type Release, type ReleaseEvent } from "../../gen/releases/v1/releases_pb.js";
import type { ReleaseEventKindColumn, ToolsetReleaseEventRow } from "../db/database.js";
import { toTimestamp } from "../platform/mapping.js";
import type { ReleaseState } from "./store.js";

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

/** A stored event with the numbers of the releases it moved between (null = none). */
export type EventWithNumbers = ToolsetReleaseEventRow & { from_release_number: bigint | null; to_release_number: bigint | null };

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
