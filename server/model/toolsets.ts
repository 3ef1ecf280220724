import { sql, type Kysely, type Transaction } from "kysely";
import type { Database, ToolsetRow } from "../db/database.js";
import { DomainError, notFound } from "../platform/errors.js";

type Db = Kysely<Database> | Transaction<Database>;

/** The project's live toolsets: never a staging copy, never deleted. */
export function liveToolsets(db: Db, projectId: string) {
  return db.selectFrom("toolsets").selectAll().where("project_id", "=", projectId).where("parent_toolset_id", "is", null).where("deleted_at", "is", null);
}

/** The live toolset of a project by slug. */
export async function findLiveToolset(db: Db, projectId: string, slug: string): Promise<ToolsetRow> {
  const row = await liveToolsets(db, projectId).where("slug", "=", slug).executeTakeFirst();
  if (!row) throw notFound(`toolset "${slug}" not found`);
  return row;
}

/** The live toolset serving an MCP endpoint slug. */
export async function findLiveToolsetByMcpSlug(db: Db, projectId: string, mcpSlug: string): Promise<ToolsetRow> {
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

/** The staging copy of a live toolset; NOT_FOUND when it has none. */
export async function findStagingCopy(db: Db, live: ToolsetRow): Promise<ToolsetRow> {
  const row = await stagingCopyOf(db, live).executeTakeFirst();
  if (!row) throw noStagingCopy(live);
  return row;
}

/** The row a request addresses: the live toolset, or its staging copy when `staging` is set. */
export async function findToolset(db: Db, projectId: string, slug: string, staging: boolean): Promise<ToolsetRow> {
  const live = await findLiveToolset(db, projectId, slug);
  return staging ? findStagingCopy(db, live) : live;
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
  const live = await lockToolset(trx, (await findLiveToolset(trx, projectId, slug)).id);
  if (staging) {
    const copy = await lockStagingCopy(trx, live);
    if (!copy) throw noStagingCopy(live);
    return copy;
  }
  if (live.editing_mode === "staging") {
    throw new DomainError(
      "failed_precondition",
      `toolset "${slug}" is in staging mode: edit its staging copy (staging = true) and publish it`,
    );
  }
  return live;
}

/** Locks a toolset row for the rest of the transaction and returns it fresh. */
export async function lockToolset(trx: Transaction<Database>, id: string): Promise<ToolsetRow> {
  const row = await trx.selectFrom("toolsets").selectAll().where("id", "=", id).where("deleted_at", "is", null).forUpdate().executeTakeFirst();
  if (!row) throw notFound("toolset not found");
  return row;
}

/** Locks the staging copy of a live toolset (lock the live row first); null when it has none. */
export async function lockStagingCopy(trx: Transaction<Database>, live: ToolsetRow): Promise<ToolsetRow | null> {
  return (await stagingCopyOf(trx, live).forUpdate().executeTakeFirst()) ?? null;
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
