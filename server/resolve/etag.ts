import { createHash } from "node:crypto";
import type { JsonObject } from "@bufbuild/protobuf";
import { byteOrder } from "../platform/byte-order.js";
import type { MergedTool } from "./merge.js";

/** What an MCP client sees of a prompt. */
export interface ResolvedPromptContent {
  name: string;
  description: string;
  prompt: string;
  arguments: JsonObject;
}

/** JSON with object keys sorted, so equal content always serializes to equal bytes. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => byteOrder(a, b));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/**
 * A content hash of exactly what an MCP client sees: the toolset's name and
 * description, its tools and its prompts. Ids, versions, release numbers and the
 * editing mode are bookkeeping and stay out, so equal content gives an equal
 * etag in any process, and any visible change gives a new one.
 */
export function computeEtag(content: { name: string; description: string; tools: MergedTool[]; prompts: ResolvedPromptContent[] }): {
  etag: string;
  /** The length of what was hashed: a fair estimate of the content's size (what the served state weighs it by). */
  bytes: number;
} {
  const visible = {
    name: content.name,
    description: content.description,
    tools: content.tools.map(({ variationIds: _ids, ...tool }) => tool),
    prompts: content.prompts,
  };
  const canonical = canonicalJson(visible);
  return { etag: createHash("sha256").update(canonical).digest("base64url").slice(0, 32), bytes: canonical.length };
}
