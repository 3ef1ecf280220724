import { invalidArgument, quoteInput } from "./errors.js";

// Limits documented in the proto comments; keep the two in step.
export const LIMITS = {
  name: 128,
  description: 4096,
  notes: 4096,
  listItems: 1000,
  toolsPerDeployment: 5000,
  path: 2048,
  serverUrl: 2048,
  inputSchemaBytes: 64 * 1024,
  prompt: 64 * 1024,
  idempotencyKey: 128,
  shortText: 4096,
  tags: 64,
  tag: 128,
  maxPageSize: 500,
  defaultPageSize: 50,
} as const;

/** Slugs of projects, toolsets and MCP endpoints. */
export const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;
const SLUG_RULE = "must be 1-63 lowercase letters, digits or hyphens, starting with a letter or digit";
const URN_SOURCE = /^[a-z0-9_-]{1,128}$/;
const URN_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const IDEMPOTENCY_KEY = /^[A-Za-z0-9_.:-]+$/;
/** A UUID in its text form. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Text PostgreSQL can store and clients can read back: no NUL (text columns
 * reject it) and no lone surrogate (not valid UTF-8 once encoded).
 */
export function text(field: string, value: string, opts: { max: number; required?: boolean }): string {
  if (opts.required && value.trim() === "") throw invalidArgument(field, "required");
  if (value.includes("\u0000")) throw invalidArgument(field, "must not contain NUL characters");
  if (!value.isWellFormed()) throw invalidArgument(field, "must be valid UTF-8 (no lone surrogates)");
  if ([...value].length > opts.max) throw invalidArgument(field, `must be at most ${opts.max} characters`);
  return value;
}

/** A required slug. */
export function slug(field: string, value: string): string {
  if (value === "") throw invalidArgument(field, "required");
  if (!SLUG.test(value)) throw invalidArgument(field, SLUG_RULE);
  return value;
}

/** Derives a slug from a display name, as the proto documents it; undefined if nothing is left. */
export function slugFromName(name: string): string | undefined {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/, "");
  return s === "" ? undefined : s;
}

/** Parts of a tool URN `tools:http:<source>:<name>`. */
export interface ToolUrn {
  kind: "http";
  source: string;
  name: string;
}

const URN_RULE = "must be tools:http:<source>:<name> with source [a-z0-9_-]{1,128} and name [A-Za-z0-9_.-]{1,128}";

/** Parses a tool URN; INVALID_ARGUMENT naming `field` when it does not follow the grammar. */
export function toolUrn(field: string, value: string): ToolUrn {
  const parts = value.split(":");
  if (parts.length !== 4 || parts[0] !== "tools" || parts[1] !== "http" || !URN_SOURCE.test(parts[2]!) || !URN_NAME.test(parts[3]!)) {
    throw invalidArgument(field, URN_RULE);
  }
  return { kind: "http", source: parts[2]!, name: parts[3]! };
}

/** The URN of an HTTP tool. */
export function httpToolUrn(source: string, name: string): string {
  return `tools:http:${source}:${name}`;
}

/** Checks a source or tool name against the URN grammar. */
export function urnPart(field: string, value: string, part: "source" | "name"): string {
  const re = part === "source" ? URN_SOURCE : URN_NAME;
  if (!re.test(value)) throw invalidArgument(field, part === "source" ? "must match [a-z0-9_-]{1,128}" : "must match [A-Za-z0-9_.-]{1,128}");
  return value;
}

/** A list of unique items, each checked by `check`, at most `max` long. */
export function uniqueList(field: string, values: readonly string[], max: number, check: (f: string, v: string) => unknown): string[] {
  if (values.length > max) throw invalidArgument(field, `must have at most ${max} items`);
  const seen = new Set<string>();
  values.forEach((v, i) => {
    check(`${field}[${i}]`, v);
    if (seen.has(v)) throw invalidArgument(`${field}[${i}]`, `duplicate value ${quoteInput(v)}`);
    seen.add(v);
  });
  return [...values];
}

/** Prompt template names: 1-128 characters, no NUL. */
export function promptName(field: string, value: string): string {
  return text(field, value, { max: LIMITS.name, required: true });
}

/** Optional idempotency key: at most 128 of [A-Za-z0-9_.:-]; "" means none. */
export function idempotencyKey(field: string, value: string): string | undefined {
  if (value === "") return undefined;
  if (value.length > LIMITS.idempotencyKey || !IDEMPOTENCY_KEY.test(value)) {
    throw invalidArgument(field, `must be at most ${LIMITS.idempotencyKey} characters of A-Z a-z 0-9 _ . : -`);
  }
  return value;
}

/** A UUID-shaped id (anything else cannot exist, and must not reach a uuid column). */
export function uuid(field: string, value: string): string {
  if (!UUID.test(value)) throw invalidArgument(field, "must be a UUID");
  return value.toLowerCase();
}

/** page_size: 0 = default, negative rejected, capped at the maximum. */
export function pageSize(value: number): number {
  if (value < 0) throw invalidArgument("page_size", "must not be negative");
  if (value === 0) return LIMITS.defaultPageSize;
  return Math.min(value, LIMITS.maxPageSize);
}
