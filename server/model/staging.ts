import type { Transaction } from "kysely";
import type { Database, ToolsetRow } from "../db/database.js";
import { alreadyExists } from "../platform/errors.js";
import {
  attachVariationGroup,
  insertToolsetVersion,
  newToolsetId,
  setSnapshot,
  softDeleteToolset,
  stateChanged,
  stateOf,
  type StateWithVariations,
} from "./toolsets.js";
import { fieldsOf, groupCurrentVersionId, groupVersionVariations, insertGroup, replaceGroupContent, sameOverrides } from "./variations.js";

/**
 * Creates the staging copy of a live toolset whose row the transaction has
 * locked: a toolsets row with parent_toolset_id, holding `from`'s selection and
 * metadata at version 1, and its own variation group holding copies of `from`'s
 * toolset variations (none when there are none). ALREADY_EXISTS when the
 * toolset has a staging copy.
 */
export async function createStagingCopy(trx: Transaction<Database>, live: ToolsetRow, from: StateWithVariations): Promise<ToolsetRow> {
  const id = await newToolsetId(trx);
  const inserted = await trx
    .insertInto("toolsets")
    .values({
      id,
      project_id: live.project_id,
      slug: live.slug,
      history_id: id,
      parent_toolset_id: live.id,
      editing_mode: "iteration",
      ...from.state,
    })
    .onConflict((oc) => oc.column("parent_toolset_id").where("deleted_at", "is", null).where("parent_toolset_id", "is not", null).doNothing())
    .returningAll()
    .executeTakeFirst();
  if (!inserted) throw alreadyExists("staging_copy", `toolset "${live.slug}" already has a staging copy`);
  const versionId = await insertToolsetVersion(trx, inserted, null);
  const variations = await groupVersionVariations(trx, from.toolsetVariationsVersionId);
  let groupId: string | null = null;
  if (variations.length > 0) {
    groupId = await insertGroup(trx, live.project_id, `toolset:${live.slug}:staging`);
    await replaceGroupContent(trx, groupId, variations.map(fieldsOf));
  }
  return setSnapshot(trx, id, { predecessor_id: versionId, tool_variations_group_id: groupId });
}

/**
 * True when a staging copy holds what `released` holds: the same selection and
 * metadata, and the same toolset-level overrides. Compared by content, so a copy
 * that was edited and edited back matches, and so does a fresh copy of it.
 */
export async function matchesRelease(trx: Transaction<Database>, copy: ToolsetRow, released: StateWithVariations): Promise<boolean> {
  if (stateChanged(stateOf(copy), stateOf(released.state))) return false;
  const stagedVersion = await groupCurrentVersionId(trx, copy.tool_variations_group_id);
  if (stagedVersion === released.toolsetVariationsVersionId) return true;
  const staged = await groupVersionVariations(trx, stagedVersion);
  return sameOverrides(staged, await groupVersionVariations(trx, released.toolsetVariationsVersionId));
}

/**
 * Makes a live toolset's own variation group hold the overrides of a group
 * version (a release's), creating the group when needed. Writes new variation
 * versions only for what differs, so nothing is written when they already agree.
 */
export async function adoptToolsetVariations(trx: Transaction<Database>, live: ToolsetRow, versionId: string | null): Promise<void> {
  const wanted = (await groupVersionVariations(trx, versionId)).map(fieldsOf);
  let groupId = live.tool_variations_group_id;
  if (groupId === null) {
    if (wanted.length === 0) return;
    groupId = await insertGroup(trx, live.project_id, `toolset:${live.slug}`);
    await attachVariationGroup(trx, live.id, groupId);
  }
  await replaceGroupContent(trx, groupId, wanted);
}

/** Soft-deletes a staging copy (it has no copies of its own). */
export async function discardStagingCopy(trx: Transaction<Database>, staging: ToolsetRow): Promise<void> {
  await softDeleteToolset(trx, staging.id);
}
