import type { ToolsetFields } from "../../gen/toolsets/v1/toolsets_pb.js";
import { invalidArgument, quoteInput } from "../platform/errors.js";
import { LIMITS, promptName, slug, text, toolUrn, uniqueList } from "../platform/validate.js";
import type { ToolsetState } from "../model/toolsets.js";

const RESOURCE_URN = /^\S{1,512}$/;

/** Validates the selection lists shared by CreateToolset and UpdateToolset. */
export function toolUrns(field: string, values: readonly string[]): string[] {
  return uniqueList(field, values, LIMITS.listItems, (f, v) => toolUrn(f, v));
}

export function resourceUrns(field: string, values: readonly string[]): string[] {
  return uniqueList(field, values, LIMITS.listItems, (f, v) => {
    text(f, v, { max: 512, required: true });
    if (!RESOURCE_URN.test(v)) throw invalidArgument(f, "must be 1-512 characters without whitespace");
  });
}

export function promptNames(field: string, values: readonly string[]): string[] {
  return uniqueList(field, values, LIMITS.listItems, promptName);
}

export function toolsetName(field: string, value: string): string {
  return text(field, value, { max: LIMITS.name, required: true });
}

export function toolsetDescription(field: string, value: string): string {
  return text(field, value, { max: LIMITS.description });
}

/** mcp_slug: "" clears it. */
export function mcpSlug(field: string, value: string): string | null {
  return value === "" ? null : slug(field, value);
}

/** The ToolsetFields paths an update_mask may name. */
export const UPDATABLE_PATHS = [
  "name",
  "description",
  "tool_urns",
  "resource_urns",
  "prompt_template_names",
  "mcp_slug",
  "mcp_enabled",
  "mcp_is_public",
] as const;
type UpdatablePath = (typeof UPDATABLE_PATHS)[number];

/** The paths of an update_mask, checked: at least one, all known, no repeats. */
export function updateMaskPaths(paths: readonly string[]): UpdatablePath[] {
  if (paths.length === 0) throw invalidArgument("update_mask", `must name at least one of ${UPDATABLE_PATHS.join(", ")}`);
  const seen = new Set<UpdatablePath>();
  paths.forEach((p, i) => {
    if (!(UPDATABLE_PATHS as readonly string[]).includes(p)) {
      throw invalidArgument(`update_mask.paths[${i}]`, `unknown path ${quoteInput(p)}; allowed: ${UPDATABLE_PATHS.join(", ")}`);
    }
    if (seen.has(p as UpdatablePath)) throw invalidArgument(`update_mask.paths[${i}]`, `duplicate path ${quoteInput(p)}`);
    seen.add(p as UpdatablePath);
  });
  return [...seen];
}

/** The validated values of the masked fields; unmasked fields are left out. */
export function maskedPatch(fields: ToolsetFields | undefined, paths: readonly UpdatablePath[]): Partial<ToolsetState> {
  const patch: Partial<ToolsetState> = {};
  const f = fields;
  for (const path of paths) {
    const field = `fields.${path}`;
    switch (path) {
      case "name":
        patch.name = toolsetName(field, f?.name ?? "");
        break;
      case "description":
        patch.description = toolsetDescription(field, f?.description ?? "");
        break;
      case "tool_urns":
        patch.tool_urns = toolUrns(field, f?.toolUrns ?? []);
        break;
      case "resource_urns":
        patch.resource_urns = resourceUrns(field, f?.resourceUrns ?? []);
        break;
      case "prompt_template_names":
        patch.prompt_template_names = promptNames(field, f?.promptTemplateNames ?? []);
        break;
      case "mcp_slug":
        patch.mcp_slug = mcpSlug(field, f?.mcpSlug ?? "");
        break;
      case "mcp_enabled":
        patch.mcp_enabled = f?.mcpEnabled ?? false;
        break;
      case "mcp_is_public":
        patch.mcp_is_public = f?.mcpIsPublic ?? false;
        break;
      default: {
        const unreachable: never = path;
        throw new Error(`unhandled path ${String(unreachable)}`);
      }
    }
  }
  return patch;
}
