import { sql, type Kysely, type Transaction } from "kysely";
import type { Database, ToolsetRow } from "../db/database.js";
import { jsonObject } from "../platform/mapping.js";
import { computeEtag, type ResolvedPromptContent } from "./etag.js";
import { latestRevisionsQuery, type PromptTemplateRow } from "../sources/prompt-template-queries.js";
import { mergeTool, type MergedTool, type Variation } from "./merge.js";

type Db = Kysely<Database> | Transaction<Database>;

/** The ids that pin every source a resolution reads; null = that source is empty. All immutable. */
export interface SourcePins {
  deploymentId: string | null;
  globalVariationsVersionId: string | null;
  toolsetVariationsVersionId: string | null;
  /** The prompt template revisions served, one per selected name that exists. */
  promptTemplateIds: string[];
}

/** The toolset-level state a resolution starts from (a live row, a staging copy or a snapshot). */
export interface ToolsetSelection {
  name: string;
  description: string;
  toolUrns: readonly string[];
  promptTemplateNames: readonly string[];
}

/** A resolved prompt with its revision id. */
export interface ResolvedPromptRow extends ResolvedPromptContent {
  id: string;
}

/** What the endpoint serves for one selection and one set of pins. */
export interface ResolvedContent {
  tools: MergedTool[];
  prompts: ResolvedPromptRow[];
  etag: string;
}

/**
 * The sources a toolset follows in iteration mode: the project's newest
 * deployment, the current versions of the global and the toolset's variation
 * groups, and the latest revision of each selected prompt template. One query.
 */
export async function latestSourcePins(db: Db, projectId: string, toolsetGroupId: string | null, promptNames: readonly string[]): Promise<SourcePins> {
  const latestPrompts = latestRevisionsQuery(db, projectId, promptNames).clearSelect().select("id");
  const { rows } = await sql<{ deployment_id: string | null; global_version_id: string | null; toolset_version_id: string | null; prompt_ids: string[] }>`
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

/**
 * Materialises a selection against pinned sources in three set-based queries
 * (tools, variations, prompts), whatever the number of tools. Callers run it in
 * one transaction so all three read the same snapshot. Selected URNs that
 * the deployment lacks are left out; tools come sorted by URN, prompts by name.
 */
export async function resolveContent(db: Db, projectId: string, selection: ToolsetSelection, pins: SourcePins): Promise<ResolvedContent> {
  const urns = [...selection.toolUrns];
  const names = [...selection.promptTemplateNames];
  const definitions =
    pins.deploymentId === null || urns.length === 0
      ? []
      : await db.selectFrom("http_tool_definitions").selectAll().where("deployment_id", "=", pins.deploymentId).where(sql<boolean>`tool_urn = ANY(${urns}::text[])`).orderBy(sql`tool_urn COLLATE "C"`).execute();
  const variations = await loadVariations(db, pins, urns);
  const prompts = await loadPrompts(db, projectId, names, pins.promptTemplateIds);
  const globalByUrn = new Map<string, Variation>();
  const toolsetByUrn = new Map<string, Variation>();
  for (const v of variations) (v.group_version_id === pins.globalVariationsVersionId ? globalByUrn : toolsetByUrn).set(v.src_tool_urn, v);
  const tools = definitions.map((d) => mergeTool(d, globalByUrn.get(d.tool_urn), toolsetByUrn.get(d.tool_urn)));
  const resolvedPrompts = prompts.map((p) => ({ id: p.id, name: p.name, description: p.description, prompt: p.prompt, arguments: jsonObject(p.arguments) }));
  const etag = computeEtag({
    name: selection.name,
    description: selection.description,
    tools,
    prompts: resolvedPrompts.map(({ id: _id, ...content }) => content),
  });
  return { tools, prompts: resolvedPrompts, etag };
}

async function loadVariations(db: Db, pins: SourcePins, urns: string[]): Promise<(Variation & { group_version_id: string })[]> {
  const versionIds = [pins.globalVariationsVersionId, pins.toolsetVariationsVersionId].filter((id): id is string => id !== null);
  if (versionIds.length === 0 || urns.length === 0) return [];
  const { rows } = await sql<Variation & { group_version_id: string }>`
    SELECT v.*, gv.id AS group_version_id
    FROM tool_variations_group_versions gv
    CROSS JOIN LATERAL unnest(gv.variation_ids) AS member(id)
    JOIN tool_variations v ON v.id = member.id
    WHERE gv.id = ANY(${versionIds}::uuid[]) AND v.src_tool_urn = ANY(${urns}::text[])`.execute(db);
  return rows;
}

async function loadPrompts(db: Db, projectId: string, names: string[], ids: string[]): Promise<PromptTemplateRow[]> {
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

/** A toolset row's selection. */
export function rowSelection(row: Pick<ToolsetRow, "name" | "description" | "tool_urns" | "prompt_template_names">): ToolsetSelection {
  return { name: row.name, description: row.description, toolUrns: row.tool_urns, promptTemplateNames: row.prompt_template_names };
}

/** A toolset row (live or staging copy) over the latest project state: its pins and what they resolve to. */
export async function resolveLatest(db: Db, row: ToolsetRow): Promise<{ pins: SourcePins; content: ResolvedContent }> {
  const pins = await latestSourcePins(db, row.project_id, row.tool_variations_group_id, row.prompt_template_names);
  return { pins, content: await resolveContent(db, row.project_id, rowSelection(row), pins) };
}
