import { createHash } from "node:crypto";
import { sql, type Transaction } from "kysely";
import type { Database, Db, ReleaseEventKindColumn, ToolsetReleaseEventRow, ToolsetReleaseRow, ToolsetRow } from "../db/database.js";
import { notFound } from "../platform/errors.js";
import type { SourcePins } from "./resolution.js";
import type { StateWithVariations, ToolsetState } from "./toolsets.js";

/** Who a release or an event is recorded as made by: the API key's name and id. */
export interface Actor {
  keyId: string;
  keyName: string;
}

/** A stored event with the numbers of the releases it moved between (null = none). */
export type EventWithNumbers = ToolsetReleaseEventRow & { from_release_number: bigint | null; to_release_number: bigint | null };

/** A release with everything it pins, read in one query. */
export interface ReleaseState {
  release: ToolsetReleaseRow;
  deploymentId: string | null;
  systemSourceStateId: string;
  /** The toolset's selection and metadata as released. */
  state: ToolsetState;
  pins: SourcePins;
}

function releasesWithState(db: Db) {
  return db
    .selectFrom("toolset_releases as r")
    .innerJoin("source_states as ss", "ss.id", "r.source_state_id")
    .innerJoin("system_source_states as sss", "sss.id", "ss.system_source_state_id")
    .innerJoin("toolset_versions as tv", "tv.id", "r.toolset_version_id")
    .selectAll("r")
    .select([
      "ss.deployment_id",
      "ss.system_source_state_id",
      "sss.prompt_template_ids",
      "tv.name as tv_name",
      "tv.description as tv_description",
      "tv.tool_urns as tv_tool_urns",
      "tv.resource_urns as tv_resource_urns",
      "tv.prompt_template_names as tv_prompt_template_names",
      "tv.mcp_slug as tv_mcp_slug",
      "tv.mcp_enabled as tv_mcp_enabled",
      "tv.mcp_is_public as tv_mcp_is_public",
    ]);
}

type JoinedRelease = Awaited<ReturnType<ReturnType<typeof releasesWithState>["executeTakeFirstOrThrow"]>>;

function toReleaseState(row: JoinedRelease): ReleaseState {
  const {
    deployment_id,
    system_source_state_id,
    prompt_template_ids,
    tv_name,
    tv_description,
    tv_tool_urns,
    tv_resource_urns,
    tv_prompt_template_names,
    tv_mcp_slug,
    tv_mcp_enabled,
    tv_mcp_is_public,
    ...release
  } = row;
  return {
    release,
    deploymentId: deployment_id,
    systemSourceStateId: system_source_state_id,
    // Releases only reference snapshots written since the release schema, which
    // always carry metadata; the fallbacks keep the types honest.
    state: {
      name: tv_name ?? "",
      description: tv_description ?? "",
      tool_urns: tv_tool_urns,
      resource_urns: tv_resource_urns,
      prompt_template_names: tv_prompt_template_names,
      mcp_slug: tv_mcp_slug,
      mcp_enabled: tv_mcp_enabled ?? false,
      mcp_is_public: tv_mcp_is_public ?? false,
    },
    pins: {
      deploymentId: deployment_id,
      globalVariationsVersionId: release.global_variations_version_id,
      toolsetVariationsVersionId: release.toolset_variations_version_id,
      promptTemplateIds: prompt_template_ids,
    },
  };
}

/** What a release holds of the toolset itself: selection, metadata and toolset-level variations. */
export function releasedToolsetState(r: ReleaseState): StateWithVariations {
  return { state: r.state, toolsetVariationsVersionId: r.pins.toolsetVariationsVersionId };
}

/** A toolset's release by number; NOT_FOUND when it has none with that number. */
export async function findRelease(db: Db, toolsetId: string, releaseNumber: bigint): Promise<ReleaseState> {
  const row = await releasesWithState(db).where("r.toolset_id", "=", toolsetId).where("r.release_number", "=", releaseNumber).executeTakeFirst();
  if (!row) throw notFound(`release ${releaseNumber} not found`);
  return toReleaseState(row);
}

/** The release a live pointer names (it always exists: the foreign key guarantees it). */
export async function getRelease(db: Db, releaseId: string): Promise<ReleaseState> {
  return toReleaseState(await releasesWithState(db).where("r.id", "=", releaseId).executeTakeFirstOrThrow());
}

/** A toolset's release published with `idempotencyKey`, if any. */
export async function findReleaseByIdempotencyKey(db: Db, toolsetId: string, idempotencyKey: string): Promise<ReleaseState | undefined> {
  const row = await releasesWithState(db).where("r.toolset_id", "=", toolsetId).where("r.idempotency_key", "=", idempotencyKey).executeTakeFirst();
  return row && toReleaseState(row);
}

/** A page of a toolset's releases, newest first, below `beforeNumber`. */
export async function listReleases(db: Db, toolsetId: string, beforeNumber: bigint | undefined, limit: number): Promise<ReleaseState[]> {
  const rows = await releasesWithState(db)
    .where("r.toolset_id", "=", toolsetId)
    .$if(beforeNumber !== undefined, (q) => q.where("r.release_number", "<", beforeNumber ?? 0n))
    .orderBy("r.release_number", "desc")
    .limit(limit)
    .execute();
  return rows.map(toReleaseState);
}

/** The id of the row holding `digest`, inserting it first when it is new; safe against concurrent inserts of the same row. */
async function upsertDeduplicated(insert: () => Promise<{ id: string } | undefined>, select: () => Promise<{ id: string }>): Promise<string> {
  const inserted = await insert();
  return inserted?.id ?? (await select()).id;
}

/**
 * Records the project-level sources behind `pins`: the system source state (the
 * prompt revisions) and the source state (deployment + system source state).
 * Both are deduplicated by their unique keys, so equal sources share one row
 * however many releases pin them. Returns the source state's id.
 */
export async function captureSourceState(trx: Transaction<Database>, projectId: string, pins: SourcePins): Promise<string> {
  const promptIds = [...pins.promptTemplateIds].sort();
  const digest = createHash("sha256").update(promptIds.join(",")).digest("hex");
  const systemSourceStateId = await upsertDeduplicated(
    () =>
      trx
        .insertInto("system_source_states")
        .values({ project_id: projectId, prompt_template_ids: promptIds, digest })
        .onConflict((oc) => oc.columns(["project_id", "digest"]).doNothing())
        .returning("id")
        .executeTakeFirst(),
    () =>
      trx.selectFrom("system_source_states").select("id").where("project_id", "=", projectId).where("digest", "=", digest).executeTakeFirstOrThrow(),
  );
  return upsertDeduplicated(
    () =>
      trx
        .insertInto("source_states")
        .values({ project_id: projectId, deployment_id: pins.deploymentId, system_source_state_id: systemSourceStateId })
        .onConflict((oc) => oc.columns(["project_id", "deployment_id", "system_source_state_id"]).doNothing())
        .returning("id")
        .executeTakeFirst(),
    () =>
      trx
        .selectFrom("source_states")
        .select("id")
        .where("project_id", "=", projectId)
        .where(sql<boolean>`deployment_id IS NOT DISTINCT FROM ${pins.deploymentId}::uuid`)
        .where("system_source_state_id", "=", systemSourceStateId)
        .executeTakeFirstOrThrow(),
  );
}

/** What a new release is made of. */
export interface NewRelease {
  notes: string;
  idempotencyKey: string | null;
  sourceStateId: string;
  toolsetVersionId: string;
  pins: SourcePins;
  etag: string;
}

/**
 * Inserts the next release of a live toolset whose row the transaction has
 * locked. The number comes from the row's counter, so numbers stay contiguous
 * and the cost does not depend on how many releases exist.
 */
export async function insertRelease(trx: Transaction<Database>, toolsetId: string, actor: Actor, release: NewRelease): Promise<ToolsetReleaseRow> {
  const { last_release_number } = await trx
    .updateTable("toolsets")
    .set((eb) => ({ last_release_number: eb("last_release_number", "+", 1n) }))
    .where("id", "=", toolsetId)
    .returning("last_release_number")
    .executeTakeFirstOrThrow();
  return trx
    .insertInto("toolset_releases")
    .values({
      toolset_id: toolsetId,
      release_number: last_release_number,
      notes: release.notes,
      released_by: actor.keyName,
      released_by_key_id: actor.keyId,
      idempotency_key: release.idempotencyKey,
      source_state_id: release.sourceStateId,
      toolset_version_id: release.toolsetVersionId,
      global_variations_version_id: release.pins.globalVariationsVersionId,
      toolset_variations_version_id: release.pins.toolsetVariationsVersionId,
      etag: release.etag,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Moves a live toolset's pointer (and, when given, its mode) and appends the
 * event recording the move. Every pointer move goes through here.
 */
export async function moveLivePointer(
  trx: Transaction<Database>,
  live: ToolsetRow,
  move: { kind: ReleaseEventKindColumn; to: string | null; mode?: ToolsetRow["editing_mode"]; notes: string; actor: Actor },
): Promise<ToolsetRow> {
  const row = await trx
    .updateTable("toolsets")
    .set({ current_release_id: move.to, editing_mode: move.mode ?? live.editing_mode, updated_at: sql<Date>`clock_timestamp()` })
    .where("id", "=", live.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await trx
    .insertInto("toolset_release_events")
    .values({
      toolset_id: live.id,
      kind: move.kind,
      actor: move.actor.keyName,
      actor_key_id: move.actor.keyId,
      from_release_id: live.current_release_id,
      to_release_id: move.to,
      notes: move.notes,
    })
    .execute();
  return row;
}

/** A page of a toolset's events, newest first, after the event `afterId` (exclusive). */
export async function listEvents(db: Db, toolsetId: string, afterId: string | undefined, limit: number): Promise<EventWithNumbers[]> {
  return (
    db
      .selectFrom("toolset_release_events as e")
      .leftJoin("toolset_releases as fr", "fr.id", "e.from_release_id")
      .leftJoin("toolset_releases as tr", "tr.id", "e.to_release_id")
      .selectAll("e")
      .select(["fr.release_number as from_release_number", "tr.release_number as to_release_number"])
      .where("e.toolset_id", "=", toolsetId)
      // The cursor's timestamp is read in SQL: JavaScript dates drop its microseconds.
      .$if(afterId !== undefined, (q) =>
        q.where(
          sql<boolean>`(e.created_at, e.id) < (SELECT created_at, id FROM toolset_release_events WHERE id = ${afterId ?? null}::uuid AND toolset_id = ${toolsetId})`,
        ),
      )
      .orderBy("e.created_at", "desc")
      .orderBy("e.id", "desc")
      .limit(limit)
      .execute()
  );
}
