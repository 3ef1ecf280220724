import { sql, type Transaction } from "kysely";
import type { Database, Db, ToolVariationRow } from "../db/database.js";
import { byteOrder } from "../platform/byte-order.js";
import { notFound } from "../platform/errors.js";
import { attachVariationGroup, findLiveToolset, findToolset, lockEditableToolset } from "./toolsets.js";

/** A variation group a request addresses: the project's global group, or one toolset's own group. */
export type Scope = { kind: "global" } | { kind: "toolset"; slug: string; staging: boolean };

/** The overrides of one variation version as they are stored; null inherits. */
export type VariationFields = Pick<
  ToolVariationRow,
  | "src_tool_urn"
  | "name"
  | "description"
  | "summary"
  | "title"
  | "confirm"
  | "confirm_prompt"
  | "summarizer"
  | "tags"
  | "read_only_hint"
  | "destructive_hint"
  | "idempotent_hint"
  | "open_world_hint"
>;

// URNs are ASCII, and "C" orders them by byte on every server whatever its
// locale, so snapshots, listings and the byte-order sort below always agree.
const byUrn = sql`tv.src_tool_urn collate "C"`;

/** A keyset page of variations: at most `limit` rows whose src_tool_urn sorts after `afterUrn`. */
export interface UrnPage {
  afterUrn: string | undefined;
  limit: number;
}

/** The variations of group versions, ordered by src_tool_urn, optionally one page (narrow it with a where on `gv`). */
function groupVersionMembers(db: Db, page?: UrnPage) {
  return db
    .selectFrom("tool_variations_group_versions as gv")
    .innerJoin("tool_variations as tv", (join) => join.on(sql<boolean>`tv.id = any(gv.variation_ids)`))
    .selectAll("tv")
    .$if(page?.afterUrn !== undefined, (qb) => qb.where(sql<boolean>`${byUrn} > ${page?.afterUrn}`))
    .$if(page !== undefined, (qb) => qb.limit(page?.limit ?? 0))
    .orderBy(byUrn);
}

/** The variations currently in a group, ordered by src_tool_urn; empty for a group with no version yet. */
export async function currentGroupVariations(db: Db, groupId: string, page?: UrnPage): Promise<ToolVariationRow[]> {
  return groupVersionMembers(db, page)
    .innerJoin("tool_variations_groups as g", "g.current_version_id", "gv.id")
    .where("g.id", "=", groupId)
    .execute();
}

/** The variations a group version holds, ordered by src_tool_urn; empty for null (no group). */
export async function groupVersionVariations(db: Db, versionId: string | null, page?: UrnPage): Promise<ToolVariationRow[]> {
  if (versionId === null) return [];
  return groupVersionMembers(db, page).where("gv.id", "=", versionId).execute();
}

/** The current version of a group; null for no group or a group with no version yet. */
export async function groupCurrentVersionId(db: Db, groupId: string | null): Promise<string | null> {
  if (groupId === null) return null;
  const row = await db.selectFrom("tool_variations_groups").select("current_version_id").where("id", "=", groupId).executeTakeFirstOrThrow();
  return row.current_version_id;
}

/** The overrides of a stored variation, without its identity and bookkeeping. */
export function fieldsOf(row: VariationFields): VariationFields {
  return {
    src_tool_urn: row.src_tool_urn,
    name: row.name,
    description: row.description,
    summary: row.summary,
    title: row.title,
    confirm: row.confirm,
    confirm_prompt: row.confirm_prompt,
    summarizer: row.summarizer,
    tags: row.tags,
    read_only_hint: row.read_only_hint,
    destructive_hint: row.destructive_hint,
    idempotent_hint: row.idempotent_hint,
    open_world_hint: row.open_world_hint,
  };
}

/** True when two sets of variations override the same tools with the same values (ids and versions aside). */
export function sameOverrides(a: readonly ToolVariationRow[], b: readonly ToolVariationRow[]): boolean {
  const key = (rows: readonly ToolVariationRow[]) => JSON.stringify(rows.map(fieldsOf).sort((x, y) => byteOrder(x.src_tool_urn, y.src_tool_urn)));
  return key(a) === key(b);
}

/** One page of the versions of one tool's variation in a group, newest first, older than `beforeVersion`. */
export async function variationVersions(
  db: Db,
  groupId: string,
  urn: string,
  beforeVersion: bigint | undefined,
  limit: number,
): Promise<ToolVariationRow[]> {
  return db
    .selectFrom("tool_variations")
    .selectAll()
    .where("group_id", "=", groupId)
    .where("src_tool_urn", "=", urn)
    .$if(beforeVersion !== undefined, (qb) => qb.where("version", "<", beforeVersion ?? 0n))
    .orderBy("version", "desc")
    .limit(limit)
    .execute();
}

/** The group a read addresses; null when it has not been created yet. NOT_FOUND for a missing toolset or staging copy. */
export async function findScopeGroupId(db: Db, projectId: string, scope: Scope): Promise<string | null> {
  if (scope.kind === "global") {
    const row = await db.selectFrom("project_tool_variations").select("group_id").where("project_id", "=", projectId).executeTakeFirst();
    return row?.group_id ?? null;
  }
  const toolset = await findToolset(db, projectId, scope.slug, scope.staging);
  return toolset.tool_variations_group_id;
}

/**
 * The variations a scope holds now. The live scope of a toolset in staging mode
 * answers with its current release's (what it serves): its own group is not
 * edited in staging mode and catches up only when switching back.
 */
export async function currentScopeVariations(db: Db, projectId: string, scope: Scope, page?: UrnPage): Promise<ToolVariationRow[]> {
  if (scope.kind === "toolset" && !scope.staging) {
    const live = await findLiveToolset(db, projectId, scope.slug);
    if (live.editing_mode === "staging" && live.current_release_id !== null) {
      const release = await db
        .selectFrom("toolset_releases")
        .select("toolset_variations_version_id")
        .where("id", "=", live.current_release_id)
        .executeTakeFirstOrThrow();
      return groupVersionVariations(db, release.toolset_variations_version_id, page);
    }
  }
  const groupId = await findScopeGroupId(db, projectId, scope);
  return groupId === null ? [] : currentGroupVariations(db, groupId, page);
}

/**
 * The group a write addresses, with the row that owns it locked so the group can
 * be attached race-free and the editing mode cannot change under the write.
 * FAILED_PRECONDITION for the live toolset of a toolset in staging mode. With
 * `create`, a missing group is created; otherwise the result is null.
 */
export async function lockScopeGroup(trx: Transaction<Database>, projectId: string, scope: Scope, create: true): Promise<string>;
export async function lockScopeGroup(trx: Transaction<Database>, projectId: string, scope: Scope, create: false): Promise<string | null>;
export async function lockScopeGroup(trx: Transaction<Database>, projectId: string, scope: Scope, create: boolean): Promise<string | null> {
  if (scope.kind === "global") return globalGroupId(trx, projectId, create);
  const toolset = await lockEditableToolset(trx, projectId, scope.slug, scope.staging);
  if (toolset.tool_variations_group_id !== null || !create) return toolset.tool_variations_group_id;
  const groupId = await insertGroup(trx, projectId, `toolset:${scope.slug}${scope.staging ? ":staging" : ""}`);
  await attachVariationGroup(trx, toolset.id, groupId);
  return groupId;
}

async function globalGroupId(trx: Transaction<Database>, projectId: string, create: boolean): Promise<string | null> {
  const select = async () =>
    (await trx.selectFrom("project_tool_variations").select("group_id").where("project_id", "=", projectId).executeTakeFirst())?.group_id ?? null;
  const existing = await select();
  if (existing !== null || !create) return existing;
  // Serializes first writers of a project; NO KEY UPDATE, unlike UPDATE, does not
  // block inserts elsewhere that reference the project.
  await trx.selectFrom("projects").select("id").where("id", "=", projectId).forNoKeyUpdate().execute();
  const raced = await select();
  if (raced !== null) return raced;
  const groupId = await insertGroup(trx, projectId, "global");
  await trx.insertInto("project_tool_variations").values({ project_id: projectId, group_id: groupId }).execute();
  return groupId;
}

/** Creates an empty variation group. */
export async function insertGroup(trx: Transaction<Database>, projectId: string, name: string): Promise<string> {
  const row = await trx.insertInto("tool_variations_groups").values({ project_id: projectId, name }).returning("id").executeTakeFirstOrThrow();
  return row.id;
}

/** What a group version lists of a variation. */
type Member = Pick<ToolVariationRow, "id" | "src_tool_urn">;

/** A locked group and the variations its current version holds. */
interface LockedGroup {
  id: string;
  currentVersionId: string | null;
  currentVersion: bigint;
  variations: ToolVariationRow[];
}

async function lockGroup(trx: Transaction<Database>, groupId: string): Promise<LockedGroup> {
  // The lock first, alone: a join under FOR UPDATE would recheck a concurrently
  // moved pointer against the old version row and lose the group.
  const group = await trx
    .selectFrom("tool_variations_groups")
    .select(["id", "current_version_id"])
    .where("id", "=", groupId)
    .forUpdate()
    .executeTakeFirstOrThrow();
  if (group.current_version_id === null) return { id: group.id, currentVersionId: null, currentVersion: 0n, variations: [] };
  const version = await trx
    .selectFrom("tool_variations_group_versions")
    .select("version")
    .where("id", "=", group.current_version_id)
    .executeTakeFirstOrThrow();
  return {
    id: group.id,
    currentVersionId: group.current_version_id,
    currentVersion: version.version,
    variations: await groupVersionVariations(trx, group.current_version_id),
  };
}

async function writeGroupVersion(trx: Transaction<Database>, group: LockedGroup, members: readonly Member[]): Promise<void> {
  const ids = [...members].sort((a, b) => byteOrder(a.src_tool_urn, b.src_tool_urn)).map((m) => m.id);
  const version = await trx
    .insertInto("tool_variations_group_versions")
    .values({ group_id: group.id, version: group.currentVersion + 1n, variation_ids: ids, predecessor_id: group.currentVersionId })
    .returning("id")
    .executeTakeFirstOrThrow();
  await trx.updateTable("tool_variations_groups").set({ current_version_id: version.id }).where("id", "=", group.id).execute();
}

/**
 * Writes the next version of one tool's variation and a group version holding it
 * in place of the previous one. Numbering follows every version ever written for
 * the tool in the group, so a re-upsert after a delete continues the history.
 */
export async function upsertVariation(trx: Transaction<Database>, groupId: string, fields: VariationFields): Promise<ToolVariationRow> {
  const group = await lockGroup(trx, groupId);
  const [row] = await insertVariationVersions(trx, groupId, [fields]);
  if (!row) throw new Error("variation insert returned no row");
  await writeGroupVersion(trx, group, [...group.variations.filter((v) => v.src_tool_urn !== fields.src_tool_urn), row]);
  return row;
}

/**
 * Writes the next version of each tool's variation in a group whose row the
 * caller has locked: one query for the newest versions, one insert per 1,000 rows.
 */
async function insertVariationVersions(trx: Transaction<Database>, groupId: string, fields: readonly VariationFields[]): Promise<ToolVariationRow[]> {
  if (fields.length === 0) return [];
  const latest = await trx
    .selectFrom("tool_variations")
    .distinctOn("src_tool_urn")
    .select(["src_tool_urn", "id", "version"])
    .where("group_id", "=", groupId)
    .where(sql<boolean>`src_tool_urn = ANY(${fields.map((f) => f.src_tool_urn)}::text[])`)
    .orderBy("src_tool_urn")
    .orderBy("version", "desc")
    .execute();
  const latestByUrn = new Map(latest.map((l) => [l.src_tool_urn, l]));
  const values = fields.map((f) => {
    const prev = latestByUrn.get(f.src_tool_urn);
    return { ...f, group_id: groupId, version: (prev?.version ?? 0n) + 1n, predecessor_id: prev?.id ?? null };
  });
  const rows: ToolVariationRow[] = [];
  for (let i = 0; i < values.length; i += 1000) {
    rows.push(
      ...(await trx
        .insertInto("tool_variations")
        .values(values.slice(i, i + 1000))
        .returningAll()
        .execute()),
    );
  }
  return rows;
}

/** Writes a group version without the tool's variation; NOT_FOUND when the group holds none for it. */
export async function deleteVariation(trx: Transaction<Database>, groupId: string | null, urn: string): Promise<void> {
  const missing = notFound(`no variation for tool "${urn}" in this scope`);
  if (groupId === null) throw missing;
  const group = await lockGroup(trx, groupId);
  const kept = group.variations.filter((v) => v.src_tool_urn !== urn);
  if (kept.length === group.variations.length) throw missing;
  await writeGroupVersion(trx, group, kept);
}

/**
 * Makes a group hold exactly `overrides` (one per tool): each tool whose
 * overrides differ from the group's current ones gets a new version, tools not
 * in `overrides` are dropped, and one group version records the result. Writes
 * nothing when the group already holds them. Used to copy a toolset's variations
 * between its live row, its staging copy and its releases.
 */
export async function replaceGroupContent(trx: Transaction<Database>, groupId: string, overrides: readonly VariationFields[]): Promise<void> {
  const group = await lockGroup(trx, groupId);
  const currentByUrn = new Map(group.variations.map((v) => [v.src_tool_urn, v]));
  const kept: ToolVariationRow[] = [];
  const changed: VariationFields[] = [];
  for (const fields of overrides) {
    const existing = currentByUrn.get(fields.src_tool_urn);
    if (existing && JSON.stringify(fieldsOf(existing)) === JSON.stringify(fieldsOf(fields))) kept.push(existing);
    else changed.push(fields);
  }
  if (changed.length === 0 && kept.length === group.variations.length) return;
  await writeGroupVersion(trx, group, [...kept, ...(await insertVariationVersions(trx, groupId, changed))]);
}
