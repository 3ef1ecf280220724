import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { invalidArgument } from "../platform/errors.js";
import { LIMITS } from "../platform/validate.js";

// Deeper nesting than any real schema needs; the bound also keeps the walk below
// (and PostgreSQL's recursive jsonb parser) far from a stack overflow.
const MAX_DEPTH = 64;

function checkString(field: string, value: string): void {
  // jsonb rejects \u0000 and lone surrogates with a generic 22xxx error; catching
  // them here lets the message name the offending place.
  if (value.includes("\u0000")) throw invalidArgument(field, "must not contain NUL characters");
  if (!value.isWellFormed()) throw invalidArgument(field, "must be valid UTF-8 (no lone surrogates)");
}

// Keys can be long; error messages only need enough to find the place.
function keyLabel(key: string): string {
  return key.length > 64 ? `${key.slice(0, 64)}…` : key;
}

function walk(field: string, value: JsonValue, depth: number): void {
  if (depth > MAX_DEPTH) throw invalidArgument(field, `must be nested at most ${MAX_DEPTH} levels deep`);
  if (typeof value === "string") return checkString(field, value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw invalidArgument(field, "must be a finite number");
    return;
  }
  if (value === null || typeof value === "boolean") return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => walk(`${field}[${i}]`, item, depth + 1));
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    checkString(`${field} (key ${JSON.stringify(keyLabel(key))})`, key);
    walk(`${field}.${keyLabel(key)}`, item, depth + 1);
  }
}

/**
 * A JSON Schema given as a Struct, checked so that jsonb accepts it and an MCP
 * client can use it: an object whose `type`, when present, is "object", at most
 * 64 KiB serialized. Returns the schema serialized for a jsonb column.
 */
export function jsonSchemaObject(field: string, schema: JsonObject): string {
  walk(field, schema, 0);
  if ("type" in schema && schema["type"] !== "object") throw invalidArgument(`${field}.type`, 'must be "object" when set');
  const serialized = JSON.stringify(schema);
  if (Buffer.byteLength(serialized, "utf8") > LIMITS.inputSchemaBytes) {
    throw invalidArgument(field, `must be at most ${LIMITS.inputSchemaBytes} bytes serialized as JSON`);
  }
  return serialized;
}
