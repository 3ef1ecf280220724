import { sql, type Kysely, type Transaction } from "kysely";
import type { Database, ToolsetRow } from "../db/database.js";
import { DomainError } from "../platform/errors.js";
import { liveToolsets } from "./lookup.js";
import type { ToolsetWithRelease } from "./mapping.js";

type Db = Kysely<Database> | Transaction<Database>;

/** The editable part of a toolset: what UpdateToolset may change and a version snapshots. */
export type ToolsetState = Pick<
  ToolsetRow,
  "name" | "description" | "tool_urns" | "resource_urns" | "prompt_template_names" | "mcp_slug" | "mcp_enabled" | "mcp_is_public"
>;

function isUniqueViolation(err: unknown, constraint: string): boolean {
  const e = err as { code?: unknown; constraint?: unknown };
  return e.code === "23505" && e.constraint === constraint;
}

/** Adds the current release number to toolset rows in one query. */
export async function withReleaseNumbers(db: Db, rows: ToolsetRow[]): Promise<ToolsetWithRelease[]> {
  const ids = rows.map((r) => r.current_release_id).filter((id): id is string => id !== null);
  const numbers = new Map<string, bigint>();
  if (ids.length > 0) {
    const releases = await db.selectFrom("toolset_releases").select(["id", "release_number"]).where("id", "in", ids).execute();
    for (const r of releases) numbers.set(r.id, r.release_number);
  }
  return rows.map((r) => ({ ...r, current_release_number: r.current_release_id ? (numbers.get(r.current_release_id) ?? null) : null }));
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

/** Inserts a live toolset (no MCP slug yet) at version 1 with its first snapshot; ALREADY_EXISTS when the slug is taken. */
export async function insertToolset(trx: Transaction<Database>, projectId: string, slug: string, state: Omit<ToolsetState, "mcp_slug"> & { mcp_slug: null }): Promise<ToolsetRow> {
  const id = await sql<{ id: string }>`SELECT generate_uuidv7() AS id`.execute(trx);
  const newId = id.rows[0]!.id;
  const row = await trx
    .insertInto("toolsets")
    .values({ id: newId, project_id: projectId, slug, history_id: newId, ...state })
    .onConflict((oc) => oc.columns(["project_id", "slug"]).where("deleted_at", "is", null).where("parent_toolset_id", "is", null).doNothing())
    .returningAll()
    .executeTakeFirst();
  if (!row) throw new DomainError("already_exists", `toolset "${slug}" already exists in this project`);
  const versionId = await insertToolsetVersion(trx, row, null);
  return trx.updateTable("toolsets").set({ predecessor_id: versionId }).where("id", "=", row.id).returningAll().executeTakeFirstOrThrow();
}

function mcpSlugTaken(mcpSlug: string | null): DomainError {
  return new DomainError("already_exists", `mcp_slug "${mcpSlug}" is used by another toolset of the project`);
}

/**
 * Applies a new state to a locked toolset: version + 1 and a new snapshot.
 * ALREADY_EXISTS when the new mcp_slug belongs to another live toolset; for a
 * staging copy too (the index covers live rows only), so a conflict shows at
 * the edit rather than at publish.
 */
export async function updateToolsetState(trx: Transaction<Database>, current: ToolsetRow, state: ToolsetState): Promise<ToolsetRow> {
  if (current.parent_toolset_id !== null && state.mcp_slug !== null && state.mcp_slug !== current.mcp_slug) {
    const other = await liveToolsets(trx, current.project_id).select("id").where("mcp_slug", "=", state.mcp_slug).where("id", "!=", current.parent_toolset_id).executeTakeFirst();
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
  const versionId = await insertToolsetVersion(trx, updated, current.predecessor_id);
  return trx.updateTable("toolsets").set({ predecessor_id: versionId }).where("id", "=", updated.id).returningAll().executeTakeFirstOrThrow();
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

/** A page of the project's live toolsets ordered by slug, after `afterSlug`. */
export async function listLiveToolsets(db: Db, projectId: string, afterSlug: string | undefined, limit: number): Promise<ToolsetRow[]> {
  return liveToolsets(db, projectId)
    .$if(afterSlug !== undefined, (q) => q.where("slug", ">", afterSlug ?? ""))
    .orderBy("slug")
    .limit(limit)
    .execute();
}
