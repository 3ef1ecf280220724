import type { Db, ToolsetRow } from "../db/database.js";
import { findRelease, getRelease, type ReleaseState } from "../model/releases.js";
import { latestSourcePins, type SourcePins } from "../model/resolution.js";
import { findStagingCopy, stateOf, type ToolsetState } from "../model/toolsets.js";

/** Which state of a toolset is meant: what the endpoint serves, the staging copy, or one release. */
export type TargetRef = { kind: "live" } | { kind: "staging" } | { kind: "release"; number: bigint };

/** A state of a toolset, ready to resolve: its selection and metadata, and the sources it is pinned to. */
export interface TargetState {
  state: ToolsetState;
  pins: SourcePins;
  /** The release it is; 0 for an unreleased state (iteration-mode live state, staging copy). */
  releaseNumber: bigint;
}

/**
 * The state of a live toolset a target names. LIVE of a toolset in staging mode
 * is its current release, pinned whatever changed in the project since; LIVE in
 * iteration mode and STAGING follow the latest project state. NOT_FOUND for a
 * missing staging copy or release.
 */
export async function targetState(db: Db, live: ToolsetRow, ref: TargetRef): Promise<TargetState> {
  switch (ref.kind) {
    case "release":
      return released(await findRelease(db, live.id, ref.number));
    case "staging":
      return latest(db, await findStagingCopy(db, live));
    case "live":
      return live.editing_mode === "staging" && live.current_release_id !== null
        ? released(await getRelease(db, live.current_release_id))
        : latest(db, live);
  }
}

function released(r: ReleaseState): TargetState {
  return { state: r.state, pins: r.pins, releaseNumber: r.release.release_number };
}

async function latest(db: Db, row: ToolsetRow): Promise<TargetState> {
  const pins = await latestSourcePins(db, row.project_id, row.tool_variations_group_id, row.prompt_template_names);
  return { state: stateOf(row), pins, releaseNumber: 0n };
}
