import { create, type JsonObject, type JsonValue, type MessageInitShape } from "@bufbuild/protobuf";
import { ChangeKind, ChangeSchema, type Change } from "../../gen/releases/v1/releases_pb.js";
import { byteOrder } from "../platform/byte-order.js";
import { HINTS } from "../platform/mapping.js";
import { canonicalJson, type ResolvedPromptContent } from "../resolve/etag.js";
import type { MergedTool } from "../resolve/merge.js";

/** The toolset's own fields an MCP client can observe. */
export interface DiffMetadata {
  name: string;
  description: string;
  mcpSlug: string;
  mcpEnabled: boolean;
  mcpIsPublic: boolean;
}

/** One resolved toolset state: its metadata, served tools and served prompts. */
export interface DiffSide {
  metadata: DiffMetadata;
  tools: readonly MergedTool[];
  prompts: readonly ResolvedPromptContent[];
}

type ChangeInit = MessageInitShape<typeof ChangeSchema>;

/** A field compared as text: its proto name and how to render it. */
type TextField<T> = readonly [field: string, value: (x: T) => string];

const METADATA_FIELDS: readonly TextField<DiffMetadata>[] = [
  ["name", (m) => m.name],
  ["description", (m) => m.description],
  ["mcp_slug", (m) => m.mcpSlug],
  ["mcp_enabled", (m) => String(m.mcpEnabled)],
  ["mcp_is_public", (m) => String(m.mcpIsPublic)],
];

/** Unset hints render as "" so "not stated" differs from an explicit false. */
const hint = (v: boolean | undefined): string => (v === undefined ? "" : String(v));

const TOOL_FIELDS: readonly TextField<MergedTool>[] = [
  ["title", (t) => t.title],
  ["description", (t) => t.description],
  ["confirm_prompt", (t) => t.confirmPrompt],
  ["summarizer", (t) => t.summarizer],
  ["http_method", (t) => t.httpMethod],
  ["path", (t) => t.path],
  ["server_url", (t) => t.serverUrl],
  ["tags", (t) => canonicalJson(t.tags)],
  ...HINTS.map(([key, column]): TextField<MergedTool> => [`annotations.${column}`, (t) => hint(t.annotations[key])]),
  ["confirm", (t) => String(t.confirm)],
];

const PROMPT_FIELDS: readonly TextField<ResolvedPromptContent>[] = [
  ["description", (p) => p.description],
  ["prompt", (p) => p.prompt],
  ["arguments", (p) => canonicalJson(p.arguments)],
];

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Pairs items by key, in byte order of the key; a side is undefined where the key is missing. */
function pair<T>(from: readonly T[], to: readonly T[], key: (x: T) => string): [string, T | undefined, T | undefined][] {
  const a = new Map(from.map((x) => [key(x), x]));
  const b = new Map(to.map((x) => [key(x), x]));
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort(byteOrder);
  return keys.map((k) => [k, a.get(k), b.get(k)]);
}

/** The fields whose rendered text differs, in table order. */
function changedFields<T>(fields: readonly TextField<T>[], from: T, to: T): { field: string; before: string; after: string }[] {
  return fields.map(([field, value]) => ({ field, before: value(from), after: value(to) })).filter((c) => c.before !== c.after);
}

function metadataBreaking(field: string, before: string, after: string): boolean {
  // Clients of the old endpoint fail when it goes away (MCP turned off, an
  // existing slug moved) or stops admitting them (a public endpoint made private).
  return (
    ((field === "mcp_enabled" || field === "mcp_is_public") && before === "true" && after === "false") || (field === "mcp_slug" && before !== "")
  );
}

/** Changes inside `input_schema`: per property, then `required`, then anything else as a whole. */
function diffInputSchema(toolUrn: string, from: JsonObject, to: JsonObject): ChangeInit[] {
  const changes: ChangeInit[] = [];
  const push = (field: string, before: string, after: string, breaking: boolean) =>
    changes.push({ kind: ChangeKind.TOOL_CHANGED, toolUrn, field, before, after, breaking });

  const properties = (s: JsonObject) => Object.entries(isObject(s.properties) ? s.properties : {});
  const type = (v: JsonValue) => canonicalJson(isObject(v) ? v.type : undefined);
  for (const [name, a, b] of pair(properties(from), properties(to), ([k]) => k)) {
    const [before, after, field] = [a?.[1], b?.[1], `input_schema.properties.${name}`];
    if (before !== undefined && after !== undefined) {
      if (canonicalJson(before) !== canonicalJson(after)) push(field, canonicalJson(before), canonicalJson(after), type(before) !== type(after));
    } else if (before !== undefined) {
      push(field, canonicalJson(before), "", true);
    } else if (after !== undefined) {
      // A new required property is reported as breaking through the `required` change.
      push(field, "", canonicalJson(after), false);
    }
  }

  const required = (s: JsonObject) => [...new Set(Array.isArray(s.required) ? s.required.filter((r) => typeof r === "string") : [])].sort(byteOrder);
  const [requiredBefore, requiredAfter] = [required(from), required(to)];
  if (canonicalJson(requiredBefore) !== canonicalJson(requiredAfter)) {
    push(
      "input_schema.required",
      canonicalJson(requiredBefore),
      canonicalJson(requiredAfter),
      requiredAfter.some((r) => !requiredBefore.includes(r)),
    );
  }

  const rest = ({ properties: _p, required: _r, ...others }: JsonObject) => canonicalJson(others);
  if (rest(from) !== rest(to)) push("input_schema", canonicalJson(from), canonicalJson(to), false);
  return changes;
}

function diffTool(toolUrn: string, from: MergedTool, to: MergedTool): ChangeInit[] {
  const changes: ChangeInit[] = [];
  if (from.name !== to.name) {
    changes.push({ kind: ChangeKind.TOOL_RENAMED, toolUrn, field: "name", before: from.name, after: to.name, breaking: true });
  }
  for (const c of changedFields(TOOL_FIELDS, from, to)) {
    // Confirmation newly required stops clients that call the tool unattended.
    changes.push({ kind: ChangeKind.TOOL_CHANGED, toolUrn, ...c, breaking: c.field === "confirm" && c.after === "true" });
  }
  return [...changes, ...diffInputSchema(toolUrn, from.inputSchema, to.inputSchema)];
}

/**
 * The field-level changes an MCP client would see going from `from` to `to`:
 * tools by URN, then prompts by name, then the metadata, each in a fixed
 * field order, so equal inputs always give an equal list. Identical sides give [].
 */
export function diffResolved(from: DiffSide, to: DiffSide): Change[] {
  const changes: ChangeInit[] = [];

  for (const [toolUrn, before, after] of pair(from.tools, to.tools, (t) => t.urn)) {
    if (before && after) changes.push(...diffTool(toolUrn, before, after));
    else if (before) changes.push({ kind: ChangeKind.TOOL_REMOVED, toolUrn, before: before.name, breaking: true });
    else if (after) changes.push({ kind: ChangeKind.TOOL_ADDED, toolUrn, after: after.name, breaking: false });
  }

  for (const [promptName, before, after] of pair(from.prompts, to.prompts, (p) => p.name)) {
    if (before && after) {
      for (const c of changedFields(PROMPT_FIELDS, before, after))
        changes.push({ kind: ChangeKind.PROMPT_CHANGED, promptName, ...c, breaking: false });
    } else if (before) {
      changes.push({ kind: ChangeKind.PROMPT_REMOVED, promptName, breaking: true });
    } else if (after) {
      changes.push({ kind: ChangeKind.PROMPT_ADDED, promptName, breaking: false });
    }
  }

  for (const c of changedFields(METADATA_FIELDS, from.metadata, to.metadata)) {
    changes.push({ kind: ChangeKind.METADATA_CHANGED, ...c, breaking: metadataBreaking(c.field, c.before, c.after) });
  }

  return changes.map((c) => create(ChangeSchema, c));
}
