import { sql, type Transaction } from "kysely";
import type { Database, Db, ToolsetRow, ToolsetWithRelease } from "../db/database.js";
import { alreadyExists, ERROR_REASONS, failedPrecondition, notFound, type DomainError } from "../platform/errors.js";

/** The editable part of a toolset: what UpdateToolset may change and a version snapshots. */
export type ToolsetState = Pick<
  ToolsetRow,
  "name" | "description" | "tool_urns" | "resource_urns" | "prompt_template_names" | "mcp_slug" | "mcp_enabled" | "mcp_is_public"
>;

/** A toolset state with the toolset-level variations that go with it (a group version; null = none). */
export interface StateWithVariations {
  state: ToolsetState;
  toolsetVariationsVersionId: string | null;
}

/** The editable state of a row. */
export function stateOf(row: ToolsetState): ToolsetState {
  return {
    name: row.name,
    description: row.description,
    tool_urns: row.tool_urns,
    resource_urns: row.resource_urns,
    prompt_template_names: row.prompt_template_names,
    mcp_slug: row.mcp_slug,
    mcp_enabled: row.mcp_enabled,
    mcp_is_public: row.mcp_is_public,
  };
}

/** Whether two states differ in anything a toolset version records. */
export function stateChanged(a: ToolsetState, b: ToolsetState): boolean {
  return JSON.stringify(a) !== JSON.stringify(b);
}

/**
 * Toolset rows with their current release number, read by the same statement.
 * Only for reads that do not lock: under FOR UPDATE a row changed meanwhile is
 * rechecked against the statement's old snapshot, which would not see its new release.
 */
function toolsetsWithRelease(db: Db) {
  return db
    .selectFrom("toolsets")
    .selectAll("toolsets")
    .select((eb) =>
      eb
        .selectFrom("toolset_releases as r")
        .select("r.release_number")
        .whereRef("r.id", "=", "toolsets.current_release_id")
        .as("current_release_number"),
    );
}

/** The project's live toolsets: never a staging copy, never deleted. */
function liveToolsets(db: Db, projectId: string) {
  return toolsetsWithRelease(db).where("project_id", "=", projectId).where("parent_toolset_id", "is", null).where("deleted_at", "is", null);
}

/** The live toolset of a project by slug. */
export async function findLiveToolset(db: Db, projectId: string, slug: string): Promise<ToolsetWithRelease> {
  const row = await liveToolsets(db, projectId).where("slug", "=", slug).executeTakeFirst();
  if (!row) throw notFound(`toolset "${slug}" not found`);
  return row;
}

/** The live toolset serving an MCP endpoint slug. */
export async function findLiveToolsetByMcpSlug(db: Db, projectId: string, mcpSlug: string): Promise<ToolsetWithRelease> {
  const row = await liveToolsets(db, projectId).where("mcp_slug", "=", mcpSlug).executeTakeFirst();
  if (!row) throw notFound(`no toolset with mcp_slug "${mcpSlug}"`);
  return row;
}

function stagingCopyOf(db: Db, live: ToolsetRow) {
  return db.selectFrom("toolsets").selectAll().where("parent_toolset_id", "=", live.id).where("deleted_at", "is", null);
}

function noStagingCopy(live: ToolsetRow): DomainError {
  const hint = live.editing_mode === "staging" ? ": create one with CreateStagingVersion" : " (it is in iteration mode)";
  return notFound(`toolset "${live.slug}" has no staging copy${hint}`);
}

/** The staging copy of a live toolset; NOT_FOUND when it has none. A copy has no releases of its own. */
export async function findStagingCopy(db: Db, live: ToolsetRow): Promise<ToolsetWithRelease> {
  const row = await stagingCopyOf(db, live).executeTakeFirst();
  if (!row) throw noStagingCopy(live);
  return { ...row, current_release_number: null };
}

/** The row a request addresses: the live toolset, or its staging copy when `staging` is set. */
export async function findToolset(db: Db, projectId: string, slug: string, staging: boolean): Promise<ToolsetWithRelease> {
  const live = await findLiveToolset(db, projectId, slug);
  return staging ? findStagingCopy(db, live) : live;
}

/** A toolset as it stands now in the transaction, with its current release number (after a write, for the response). */
export async function currentToolset(trx: Transaction<Database>, id: string): Promise<ToolsetWithRelease> {
  return toolsetsWithRelease(trx).where("id", "=", id).executeTakeFirstOrThrow();
}

/** A page of the project's live toolsets ordered by slug, after `afterSlug`. */
export async function listLiveToolsets(db: Db, projectId: string, afterSlug: string | undefined, limit: number): Promise<ToolsetWithRelease[]> {
  return liveToolsets(db, projectId)
    .$if(afterSlug !== undefined, (q) => q.where("slug", ">", afterSlug ?? ""))
    .orderBy("slug")
    .limit(limit)
    .execute();
}

/**
 * The toolset whose history a read addresses: the live toolset with the slug,
 * else the most recently deleted one, so releases stay readable for audit.
 */
export async function findToolsetForHistory(db: Db, projectId: string, slug: string): Promise<ToolsetRow> {
  const row = await db
    .selectFrom("toolsets")
    .selectAll()
    .where("project_id", "=", projectId)
    .where("slug", "=", slug)
    .where("parent_toolset_id", "is", null)
    .orderBy(sql`deleted_at DESC NULLS FIRST`)
    .limit(1)
    .executeTakeFirst();
  if (!row) throw notFound(`toolset "${slug}" not found`);
  return row;
}

/** Locks a toolset row for the rest of the transaction and returns it fresh. */
async function lockToolset(trx: Transaction<Database>, id: string): Promise<ToolsetRow> {
  const row = await trx.selectFrom("toolsets").selectAll().where("id", "=", id).where("deleted_at", "is", null).forUpdate().executeTakeFirst();
  if (!row) throw notFound("toolset not found");
  return row;
}

/**
 * Finds and locks the live toolset of a project by slug: the first step of every
 * write that touches a toolset (lock order: live row, then staging copy, then
 * the project row, then variation groups).
 */
export async function lockLiveToolset(trx: Transaction<Database>, projectId: string, slug: string): Promise<ToolsetRow> {
  return lockToolset(trx, (await findLiveToolset(trx, projectId, slug)).id);
}

/** Locks the staging copy of a live toolset (lock the live row first); null when it has none. */
export async function lockStagingCopy(trx: Transaction<Database>, live: ToolsetRow): Promise<ToolsetRow | null> {
  return (await stagingCopyOf(trx, live).forUpdate().executeTakeFirst()) ?? null;
}

/**
 * Finds and locks the row an edit may change, for the rest of the transaction.
 * The live row is locked first, also for edits of the staging copy, so edits
 * serialize with publish, rollback and mode switches (which lock it too); lock
 * order is live row, then staging copy, then variation groups. In staging mode
 * the live toolset only changes by publish or rollback, so edits addressed to it
 * are FAILED_PRECONDITION; the mode is checked after the lock, so a switch that
 * committed meanwhile is seen.
 */
export async function lockEditableToolset(trx: Transaction<Database>, projectId: string, slug: string, staging: boolean): Promise<ToolsetRow> {
  const live = await lockLiveToolset(trx, projectId, slug);
  if (staging) {
    const copy = await lockStagingCopy(trx, live);
    if (!copy) throw noStagingCopy(live);
    return copy;
  }
  if (live.editing_mode === "staging") {
    throw failedPrecondition(
      ERROR_REASONS.LIVE_TOOLSET_PINNED,
      `toolset "${slug}" is in staging mode: edit its staging copy (staging = true) and publish it`,
    );
  }
  return live;
}

function isUniqueViolation(err: unknown, constraint: string): boolean {
  const e = err as { code?: unknown; constraint?: unknown };
  return e.code === "23505" && e.constraint === constraint;
}

/** A new toolsets row id; a row that starts its own history needs it before the insert. */
export async function newToolsetId(trx: Transaction<Database>): Promise<string> {
  const { rows } = await sql<{ id: string }>`SELECT generate_uuidv7() AS id`.execute(trx);
  return rows[0]!.id;
}

/** Writes the immutable snapshot of a toolset at `version`. */
export async function insertToolsetVersion(trx: Transaction<Database>, toolset: ToolsetRow, predecessorId: string | null): Promise<string> {
  const row = await trx
    .insertInto("toolset_versions")
    .values({
      toolset_id: toolset.id,
      version: toolset.version,
      tool_urns: toolset.tool_urns,
      resource_urns: toolset.resource_urns,
      prompt_template_names: toolset.prompt_template_names,
      predecessor_id: predecessorId,
      name: toolset.name,
      description: toolset.description,
      mcp_slug: toolset.mcp_slug,
      mcp_enabled: toolset.mcp_enabled,
      mcp_is_public: toolset.mcp_is_public,
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  return row.id;
}

/** Points a toolset at its newest snapshot (and, when given, its variation group). */
export async function setSnapshot(
  trx: Transaction<Database>,
  id: string,
  set: { predecessor_id: string; tool_variations_group_id?: string | null },
): Promise<ToolsetRow> {
  return trx.updateTable("toolsets").set(set).where("id", "=", id).returningAll().executeTakeFirstOrThrow();
}

/** Inserts a live toolset (no MCP slug yet) at version 1 with its first snapshot; ALREADY_EXISTS when the slug is taken. */
export async function insertToolset(
  trx: Transaction<Database>,
  projectId: string,
  slug: string,
  state: Omit<ToolsetState, "mcp_slug"> & { mcp_slug: null },
): Promise<ToolsetRow> {
  const newId = await newToolsetId(trx);
  const row = await trx
    .insertInto("toolsets")
    .values({ id: newId, project_id: projectId, slug, history_id: newId, ...state })
    .onConflict((oc) => oc.columns(["project_id", "slug"]).where("deleted_at", "is", null).where("parent_toolset_id", "is", null).doNothing())
    .returningAll()
    .executeTakeFirst();
  if (!row) throw alreadyExists("toolset", `toolset "${slug}" already exists in this project`);
  return setSnapshot(trx, row.id, { predecessor_id: await insertToolsetVersion(trx, row, null) });
}

function mcpSlugTaken(mcpSlug: string | null): DomainError {
  return alreadyExists("mcp_slug", `mcp_slug "${mcpSlug}" is used by another toolset of the project`);
}

/**
 * Applies a new state to a locked toolset: version + 1 and a new snapshot.
 * ALREADY_EXISTS when the new mcp_slug belongs to another live toolset; for a
 * staging copy too (the index covers live rows only), so a conflict shows at
 * the edit rather than at publish.
 */
export async function updateToolsetState(trx: Transaction<Database>, current: ToolsetRow, state: ToolsetState): Promise<ToolsetRow> {
  if (current.parent_toolset_id !== null && state.mcp_slug !== null && state.mcp_slug !== current.mcp_slug) {
    const other = await trx
      .selectFrom("toolsets")
      .select("id")
      .where("project_id", "=", current.project_id)
      .where("parent_toolset_id", "is", null)
      .where("deleted_at", "is", null)
      .where("mcp_slug", "=", state.mcp_slug)
      .where("id", "!=", current.parent_toolset_id)
      .executeTakeFirst();
    if (other) throw mcpSlugTaken(state.mcp_slug);
  }
  let updated: ToolsetRow;
  try {
    updated = await trx
      .updateTable("toolsets")
      .set({ ...state, version: current.version + 1n, updated_at: sql<Date>`clock_timestamp()` })
      .where("id", "=", current.id)
      .returningAll()
      .executeTakeFirstOrThrow();
  } catch (err) {
    if (isUniqueViolation(err, "toolsets_project_live_mcp_slug_key")) {
      throw mcpSlugTaken(state.mcp_slug);
    }
    throw err;
  }
  return setSnapshot(trx, updated.id, { predecessor_id: await insertToolsetVersion(trx, updated, current.predecessor_id) });
}

/** Attaches a variation group to a toolset; nothing a client sees changes, so version and updated_at stay. */
export async function attachVariationGroup(trx: Transaction<Database>, toolsetId: string, groupId: string): Promise<void> {
  await trx.updateTable("toolsets").set({ tool_variations_group_id: groupId }).where("id", "=", toolsetId).execute();
}

/** Soft-deletes a live toolset and its staging copy. */
export async function softDeleteToolset(trx: Transaction<Database>, toolsetId: string): Promise<void> {
  await trx
    .updateTable("toolsets")
    .set({ deleted_at: sql<Date>`clock_timestamp()`, updated_at: sql<Date>`clock_timestamp()` })
    .where((eb) => eb.or([eb("id", "=", toolsetId), eb("parent_toolset_id", "=", toolsetId)]))
    .where("deleted_at", "is", null)
    .execute();
}
