import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { ResolvedPrompt, ResolvedTool, ResolvedToolset } from "../gen/releases/v1/releases_pb.js";

/** The `_meta` prefix of the gateway's own keys (never `io.modelcontextprotocol/` or `*.mcp/`). */
export const META_PREFIX = "toolset-release/";

/** A tool as `tools/list` shows it (the same JSON in both protocol eras). */
export interface McpTool {
  name: string;
  title?: string;
  description?: string;
  inputSchema: { type: "object"; [key: string]: unknown };
  annotations?: Record<string, boolean | string>;
  _meta: Record<string, unknown>;
}

/** A prompt as `prompts/list` shows it. */
export interface McpPrompt {
  name: string;
  description?: string;
  arguments: { name: string; description?: string; required: boolean }[];
}

/** What an endpoint serves, turned into MCP shapes once per state. */
export interface ServedState {
  resolved: ResolvedToolset;
  tools: McpTool[];
  prompts: McpPrompt[];
  /** Tools and prompts by the name clients call them by (first by URN order wins). */
  toolsByName: Map<string, ResolvedTool>;
  promptsByName: Map<string, ResolvedPrompt>;
  /** Names served twice in this state (the later ones are hidden). */
  duplicateNames: string[];
  /** Fingerprints that tell whether a list changed between two states. */
  toolsKey: string;
  promptsKey: string;
  /** `_meta` of list results: the release and etag served. */
  listMeta: Record<string, unknown>;
}

/** Builds the served state of a resolved toolset. */
export function servedState(resolved: ResolvedToolset): ServedState {
  const toolsByName = new Map<string, ResolvedTool>();
  const duplicateNames: string[] = [];
  const tools: McpTool[] = [];
  for (const t of resolved.tools) {
    if (toolsByName.has(t.name)) {
      duplicateNames.push(t.name);
      continue;
    }
    toolsByName.set(t.name, t);
    tools.push(mcpTool(t));
  }
  const promptsByName = new Map<string, ResolvedPrompt>();
  const prompts: McpPrompt[] = [];
  for (const p of resolved.prompts) {
    if (promptsByName.has(p.name)) continue;
    promptsByName.set(p.name, p);
    prompts.push(mcpPrompt(p));
  }
  const listMeta = {
    [`${META_PREFIX}release`]: Number(resolved.releaseNumber),
    [`${META_PREFIX}etag`]: resolved.etag,
  };
  return {
    resolved,
    tools,
    prompts,
    toolsByName,
    promptsByName,
    duplicateNames,
    toolsKey: JSON.stringify(tools.map(({ _meta: _m, ...t }) => t)),
    promptsKey: JSON.stringify(prompts),
    listMeta,
  };
}

function mcpTool(t: ResolvedTool): McpTool {
  const annotations: Record<string, boolean | string> = {};
  const a = t.annotations;
  if (a?.readOnlyHint !== undefined) annotations["readOnlyHint"] = a.readOnlyHint;
  if (a?.destructiveHint !== undefined) annotations["destructiveHint"] = a.destructiveHint;
  if (a?.idempotentHint !== undefined) annotations["idempotentHint"] = a.idempotentHint;
  if (a?.openWorldHint !== undefined) annotations["openWorldHint"] = a.openWorldHint;
  const tool: McpTool = {
    name: t.name,
    inputSchema: inputSchema(t.inputSchema),
    _meta: { [`${META_PREFIX}urn`]: t.urn },
  };
  if (t.title !== "") {
    tool.title = t.title;
    annotations["title"] = t.title;
  }
  if (t.description !== "") tool.description = t.description;
  if (Object.keys(annotations).length > 0) tool.annotations = annotations;
  return tool;
}

/** MCP requires an object schema; a stored schema without `type` is read as one. */
function inputSchema(schema: JsonObject | undefined): McpTool["inputSchema"] {
  if (schema === undefined) return { type: "object" };
  return { ...schema, type: "object" };
}

function mcpPrompt(p: ResolvedPrompt): McpPrompt {
  const schema = p.arguments ?? {};
  const properties = isObject(schema["properties"]) ? schema["properties"] : {};
  const required = new Set(Array.isArray(schema["required"]) ? schema["required"].filter((r): r is string => typeof r === "string") : []);
  const args = Object.keys(properties)
    .sort()
    .map((name) => {
      const prop = properties[name];
      const description = isObject(prop) && typeof prop["description"] === "string" ? prop["description"] : undefined;
      return { name, ...(description !== undefined ? { description } : {}), required: required.has(name) };
    });
  const out: McpPrompt = { name: p.name, arguments: args };
  if (p.description !== "") out.description = p.description;
  return out;
}

function isObject(v: JsonValue | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A prompts/get that cannot be answered (unknown prompt, bad argument); the message is for the client. */
export class PromptArgumentError extends Error {}

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g;

/**
 * Renders a prompt: each `{{name}}` becomes the argument's value. A required
 * argument that is missing, or a placeholder with no value, is an error naming
 * it; arguments the prompt does not declare are refused too.
 */
function renderPrompt(prompt: ResolvedPrompt, declared: McpPrompt, args: Record<string, string> | undefined): string {
  const given = args ?? {};
  const known = new Set(declared.arguments.map((a) => a.name));
  const unknown = Object.keys(given).filter((k) => !known.has(k));
  if (unknown.length > 0) throw new PromptArgumentError(`prompt "${prompt.name}" has no argument ${unknown.map((u) => `"${u}"`).join(", ")}`);
  const missing = declared.arguments.filter((a) => a.required && given[a.name] === undefined).map((a) => a.name);
  if (missing.length > 0) {
    throw new PromptArgumentError(`prompt "${prompt.name}" needs argument ${missing.map((m) => `"${m}"`).join(", ")}`);
  }
  return prompt.prompt.replace(PLACEHOLDER, (whole, name: string) => {
    const value = given[name];
    if (value !== undefined) return value;
    // An optional argument left out renders as empty; a placeholder the schema
    // does not declare stays as written (it is text, not a parameter).
    return known.has(name) ? "" : whole;
  });
}

/** A prompts/get result (the same in both eras). */
export interface PromptResult {
  description?: string;
  messages: { role: "user"; content: { type: "text"; text: string } }[];
  _meta: Record<string, unknown>;
  [key: string]: unknown;
}

/** prompts/get: the rendered prompt; PromptArgumentError (each era's invalid params) for an unknown prompt or a bad argument. */
export function getPrompt(state: ServedState, name: string, args: Record<string, string> | undefined): PromptResult {
  const prompt = state.promptsByName.get(name);
  const declared = state.prompts.find((p) => p.name === name);
  if (prompt === undefined || declared === undefined) throw new PromptArgumentError(`unknown prompt: ${name}`);
  const text = renderPrompt(prompt, declared, args);
  return {
    ...(prompt.description !== "" ? { description: prompt.description } : {}),
    messages: [{ role: "user", content: { type: "text", text } }],
    _meta: state.listMeta,
  };
}
