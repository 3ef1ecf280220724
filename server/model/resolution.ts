import { sql } from "kysely";
import type { Db, HttpToolDefinitionRow, PromptTemplateRow, ToolVariationRow } from "../db/database.js";
import { latestRevisionsQuery } from "./prompt-templates.js";

/** The ids that pin every source a resolution reads; null = that source is empty. All immutable. */
export interface SourcePins {
  deploymentId: string | null;
  globalVariationsVersionId: string | null;
  toolsetVariationsVersionId: string | null;
  /** The prompt template revisions served, one per selected name that exists. */
  promptTemplateIds: string[];
}

/** A variation with the group version it was read through. */
export type PinnedVariation = ToolVariationRow & { group_version_id: string };

/**
 * The sources a toolset follows in iteration mode: the project's newest
 * deployment, the current versions of the global and the toolset's variation
 * groups, and the latest revision of each selected prompt template. One query.
 */
export async function latestSourcePins(
  db: Db,
  projectId: string,
  toolsetGroupId: string | null,
  promptNames: readonly string[],
): Promise<SourcePins> {
  const latestPrompts = latestRevisionsQuery(db, projectId, promptNames).clearSelect().select("id");
  const { rows } = await sql<{
    deployment_id: string | null;
    global_version_id: string | null;
    toolset_version_id: string | null;
    prompt_ids: string[];
  }>`
    SELECT
      (SELECT id FROM deployments WHERE project_id = ${projectId} ORDER BY seq DESC LIMIT 1) AS deployment_id,
      (SELECT g.current_version_id FROM project_tool_variations p JOIN tool_variations_groups g ON g.id = p.group_id
        WHERE p.project_id = ${projectId}) AS global_version_id,
      (SELECT current_version_id FROM tool_variations_groups WHERE id = ${toolsetGroupId}) AS toolset_version_id,
      ARRAY(${latestPrompts}) AS prompt_ids`.execute(db);
  const r = rows[0];
  return {
    deploymentId: r?.deployment_id ?? null,
    globalVariationsVersionId: r?.global_version_id ?? null,
    toolsetVariationsVersionId: r?.toolset_version_id ?? null,
    promptTemplateIds: r?.prompt_ids ?? [],
  };
}

// The three reads below are set-based: one statement each, whatever the number
// of tools. Callers run them in one transaction so they read the same snapshot.

/** The pinned deployment's definitions of the selected tools, by URN in byte order. */
export async function pinnedDefinitions(db: Db, pins: SourcePins, urns: readonly string[]): Promise<HttpToolDefinitionRow[]> {
  if (pins.deploymentId === null || urns.length === 0) return [];
  return db
    .selectFrom("http_tool_definitions")
    .selectAll()
    .where("deployment_id", "=", pins.deploymentId)
    .where(sql<boolean>`tool_urn = ANY(${urns}::text[])`)
    .orderBy(sql`tool_urn COLLATE "C"`)
    .execute();
}

/** The variations of the selected tools in the pinned global and toolset group versions. */
export async function pinnedVariations(db: Db, pins: SourcePins, urns: readonly string[]): Promise<PinnedVariation[]> {
  const versionIds = [pins.globalVariationsVersionId, pins.toolsetVariationsVersionId].filter((id): id is string => id !== null);
  if (versionIds.length === 0 || urns.length === 0) return [];
  const { rows } = await sql<PinnedVariation>`
    SELECT v.*, gv.id AS group_version_id
    FROM tool_variations_group_versions gv
    CROSS JOIN LATERAL unnest(gv.variation_ids) AS member(id)
    JOIN tool_variations v ON v.id = member.id
    WHERE gv.id = ANY(${versionIds}::uuid[]) AND v.src_tool_urn = ANY(${urns}::text[])`.execute(db);
  return rows;
}

/** The pinned prompt template revisions of the selected names, by name in byte order. */
export async function pinnedPrompts(db: Db, projectId: string, pins: SourcePins, names: readonly string[]): Promise<PromptTemplateRow[]> {
  const ids = pins.promptTemplateIds;
  if (names.length === 0 || ids.length === 0) return [];
  return db
    .selectFrom("prompt_templates")
    .selectAll()
    .where("project_id", "=", projectId)
    .where(sql<boolean>`id = ANY(${ids}::uuid[])`)
    .where(sql<boolean>`name = ANY(${names}::text[])`)
    .orderBy(sql`name COLLATE "C"`)
    .execute();
}
