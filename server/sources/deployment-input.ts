import type { CreateDeploymentRequest, HttpToolDefinition } from "../../gen/sources/v1/sources_pb.js";
import type { NewToolDefinition } from "../model/deployments.js";
import { byteOrder } from "../platform/byte-order.js";
import { invalidArgument } from "../platform/errors.js";
import { hintColumns } from "../platform/mapping.js";
import { httpToolUrn, idempotencyKey, LIMITS, text, urnPart } from "../platform/validate.js";
import { jsonSchemaObject } from "./json-schema.js";

/** The HTTP methods a tool may use; exactly these spellings. */
export const HTTP_METHODS: ReadonlySet<string> = new Set(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]);

// MCP requires a tool's inputSchema to be an object schema, so a tool that
// declares no schema gets the least one that says "takes an object".
const DEFAULT_INPUT_SCHEMA = JSON.stringify({ type: "object" });

/** A CreateDeployment request after validation. */
export interface ValidDeployment {
  idempotencyKey: string | undefined;
  /** Sorted by URN. */
  tools: NewToolDefinition[];
}

// Whitespace and control characters have no place in a URL the gateway will call.
function hasSpaceOrControl(value: string): boolean {
  for (const ch of value) {
    const c = ch.codePointAt(0)!;
    if (c <= 0x20 || c === 0x7f || /\s/.test(ch)) return true;
  }
  return false;
}

function serverUrl(field: string, value: string): string {
  if (value === "") return value;
  text(field, value, { max: LIMITS.serverUrl });
  const rule = "must be empty or an absolute http:// or https:// URL";
  // WHATWG URL parsing forgives a lot (leading spaces, "http:host"); require the
  // plain form so what is stored is what the gateway will call.
  if (!/^https?:\/\/[^/?#]/i.test(value) || hasSpaceOrControl(value) || !URL.canParse(value)) {
    throw invalidArgument(field, rule);
  }
  if (new URL(value).hostname === "") throw invalidArgument(field, rule);
  return value;
}

function path(field: string, value: string): string {
  if (value === "") throw invalidArgument(field, "required");
  text(field, value, { max: LIMITS.path });
  if (!value.startsWith("/")) throw invalidArgument(field, 'must start with "/"');
  if (hasSpaceOrControl(value)) throw invalidArgument(field, "must not contain whitespace or control characters");
  return value;
}

function tags(field: string, values: readonly string[]): string[] {
  if (values.length > LIMITS.tags) throw invalidArgument(field, `must have at most ${LIMITS.tags} items`);
  return values.map((tag, i) => text(`${field}[${i}]`, tag, { max: LIMITS.tag, required: true }));
}

function tool(field: string, t: HttpToolDefinition): NewToolDefinition {
  const source = urnPart(`${field}.source`, t.source, "source");
  const name = urnPart(`${field}.name`, t.name, "name");
  if (!HTTP_METHODS.has(t.httpMethod)) {
    throw invalidArgument(`${field}.http_method`, `must be one of ${[...HTTP_METHODS].join(", ")} (uppercase)`);
  }
  return {
    tool_urn: httpToolUrn(source, name),
    source,
    name,
    summary: text(`${field}.summary`, t.summary, { max: LIMITS.shortText }),
    description: text(`${field}.description`, t.description, { max: LIMITS.description }),
    http_method: t.httpMethod,
    path: path(`${field}.path`, t.path),
    server_url: serverUrl(`${field}.server_url`, t.serverUrl),
    input_schema: t.inputSchema === undefined ? DEFAULT_INPUT_SCHEMA : jsonSchemaObject(`${field}.input_schema`, t.inputSchema),
    tags: tags(`${field}.tags`, t.tags),
    ...hintColumns(t),
    title: text(`${field}.title`, t.title, { max: LIMITS.name }),
  };
}

/** Checks every field of a CreateDeployment request before any database work; INVALID_ARGUMENT names the first bad field. */
export function validateCreateDeployment(req: CreateDeploymentRequest): ValidDeployment {
  const key = idempotencyKey("idempotency_key", req.idempotencyKey);
  if (req.tools.length === 0) throw invalidArgument("tools", "must have at least 1 tool");
  if (req.tools.length > LIMITS.toolsPerDeployment) throw invalidArgument("tools", `must have at most ${LIMITS.toolsPerDeployment} tools`);
  const seen = new Map<string, number>();
  const tools = req.tools.map((t, i) => {
    const valid = tool(`tools[${i}]`, t);
    const first = seen.get(valid.tool_urn);
    if (first !== undefined) throw invalidArgument(`tools[${i}].name`, `duplicate tool URN ${valid.tool_urn} (also tools[${first}])`);
    seen.set(valid.tool_urn, i);
    return valid;
  });
  // URNs are ASCII, so code-unit order equals the byte order (COLLATE "C") the queries use.
  tools.sort((a, b) => byteOrder(a.tool_urn, b.tool_urn));
  return { idempotencyKey: key, tools };
}
