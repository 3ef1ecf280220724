import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { JsonObject } from "@bufbuild/protobuf";

/** The one way a timestamptz becomes a protobuf Timestamp. */
export function toTimestamp(date: Date): Timestamp {
  return timestampFromDate(date);
}

/** A jsonb value that must be an object (schemas, prompt arguments) as a Struct's JSON. */
export function jsonObject(value: unknown): JsonObject {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as JsonObject) : {};
}
