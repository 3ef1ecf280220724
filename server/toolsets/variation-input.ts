import type { ToolVariation, VariationScope } from "../../gen/toolsets/v1/toolsets_pb.js";
import type { Scope, VariationFields } from "../model/variations.js";
import { invalidArgument } from "../platform/errors.js";
import { hintColumns } from "../platform/mapping.js";
import { LIMITS, slug, text, toolUrn, uniqueList, urnPart } from "../platform/validate.js";

const SCOPE_RULE = "set exactly one of global = true or toolset_slug";

/** Checks a VariationScope: exactly one of `global` or `toolset_slug`, `staging` only with a toolset. */
export function parseScope(scope: VariationScope | undefined): Scope {
  if (scope === undefined) throw invalidArgument("scope", `required: ${SCOPE_RULE}`);
  const hasSlug = scope.toolsetSlug !== "";
  if (scope.global === hasSlug) throw invalidArgument("scope", SCOPE_RULE);
  if (scope.global) {
    if (scope.staging) throw invalidArgument("scope.staging", "must be false when scope.global is set");
    return { kind: "global" };
  }
  return { kind: "toolset", slug: slug("scope.toolset_slug", scope.toolsetSlug), staging: scope.staging };
}

/** The scope as text, to tell apart the page tokens of different scopes' lists. */
export function scopeKey(scope: Scope): string {
  return scope.kind === "global" ? "global" : `${scope.slug}:${scope.staging ? "staging" : "live"}`;
}

/** Checks a tool URN given as a request field. */
export function parseToolUrn(field: string, value: string): string {
  if (value === "") throw invalidArgument(field, "required");
  toolUrn(field, value);
  return value;
}

function optionalText(field: string, value: string | undefined, max: number): string | null {
  return value === undefined ? null : text(field, value, { max });
}

/**
 * Checks the overrides of an upsert. Output-only fields (id, group_id, version,
 * predecessor_id, created_at) are ignored, as the proto documents.
 */
export function parseVariation(v: ToolVariation | undefined): VariationFields {
  if (v === undefined) throw invalidArgument("variation", "required");
  const tags =
    v.tags === undefined
      ? null
      : uniqueList("variation.tags", v.tags.values, LIMITS.tags, (f, tag) => text(f, tag, { max: LIMITS.tag, required: true }));
  return {
    src_tool_urn: parseToolUrn("variation.src_tool_urn", v.srcToolUrn),
    name: v.name === undefined ? null : urnPart("variation.name", v.name, "name"),
    description: optionalText("variation.description", v.description, LIMITS.description),
    summary: optionalText("variation.summary", v.summary, LIMITS.shortText),
    title: optionalText("variation.title", v.title, LIMITS.name),
    confirm: v.confirm ?? null,
    confirm_prompt: optionalText("variation.confirm_prompt", v.confirmPrompt, LIMITS.shortText),
    summarizer: optionalText("variation.summarizer", v.summarizer, LIMITS.shortText),
    tags,
    ...hintColumns(v),
  };
}
