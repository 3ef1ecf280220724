import type { Db, ToolsetRow, ToolVariationRow } from "../db/database.js";
import { latestSourcePins, pinnedDefinitions, pinnedPrompts, pinnedVariations, type SourcePins } from "../model/resolution.js";
import { jsonObject } from "../platform/mapping.js";
import { computeEtag, type ResolvedPromptContent } from "./etag.js";
import { mergeTool, type MergedTool } from "./merge.js";

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
  /** Estimated size of the content in bytes (its canonical JSON). */
  bytes: number;
}

/**
 * Materialises a selection against pinned sources in three set-based queries
 * (tools, variations, prompts), whatever the number of tools. Callers run it in
 * one transaction so all three read the same snapshot. Selected URNs that
 * the deployment lacks are left out; tools come sorted by URN, prompts by name.
 */
export async function resolveContent(db: Db, projectId: string, selection: ToolsetSelection, pins: SourcePins): Promise<ResolvedContent> {
  const definitions = await pinnedDefinitions(db, pins, selection.toolUrns);
  const variations = await pinnedVariations(db, pins, selection.toolUrns);
  const prompts = await pinnedPrompts(db, projectId, pins, selection.promptTemplateNames);
  const globalByUrn = new Map<string, ToolVariationRow>();
  const toolsetByUrn = new Map<string, ToolVariationRow>();
  for (const v of variations) (v.group_version_id === pins.globalVariationsVersionId ? globalByUrn : toolsetByUrn).set(v.src_tool_urn, v);
  const tools = definitions.map((d) => mergeTool(d, globalByUrn.get(d.tool_urn), toolsetByUrn.get(d.tool_urn)));
  const resolvedPrompts = prompts.map((p) => ({
    id: p.id,
    name: p.name,
    description: p.description,
    prompt: p.prompt,
    arguments: jsonObject(p.arguments),
  }));
  const { etag, bytes } = computeEtag({
    name: selection.name,
    description: selection.description,
    tools,
    prompts: resolvedPrompts.map(({ id: _id, ...content }) => content),
  });
  return { tools, prompts: resolvedPrompts, etag, bytes };
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
