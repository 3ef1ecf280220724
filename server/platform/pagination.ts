import { createHash } from "node:crypto";
import { invalidArgument } from "./errors.js";

// Page tokens are opaque to clients: base64url JSON of the last row's sort key and
// the list they belong to, plus a checksum. A token from another list (another
// RPC, project or toolset) or an edited one is INVALID_ARGUMENT. Tokens carry no
// secret and grant nothing: every query is still scoped by the caller's project.

const VERSION = 1;
const NOT_A_TOKEN = "is not a page token of this list (pass back next_page_token unchanged)";

interface TokenBody {
  v: number;
  /** Which list: RPC name and the ids that scope it. */
  s: string;
  /** The sort key of the last row returned. */
  k: (string | number)[];
}

function checksum(payload: string): string {
  return createHash("sha256").update(`tsr-page-token:${payload}`).digest("base64url").slice(0, 16);
}

/** Encodes the cursor after `key` for the list identified by `scope`. */
export function encodePageToken(scope: string, key: (string | number)[]): string {
  const payload = Buffer.from(JSON.stringify({ v: VERSION, s: scope, k: key } satisfies TokenBody)).toString("base64url");
  return `${payload}.${checksum(payload)}`;
}

/** Decodes a page token for `scope`; undefined for "" (first page). */
function decodePageToken(scope: string, token: string): (string | number)[] | undefined {
  if (token === "") return undefined;
  const bad = () => invalidArgument("page_token", NOT_A_TOKEN);
  const [payload, sum, ...rest] = token.split(".");
  if (payload === undefined || sum === undefined || rest.length > 0 || checksum(payload) !== sum) throw bad();
  let body: TokenBody;
  try {
    body = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as TokenBody;
  } catch {
    throw bad();
  }
  if (body.v !== VERSION || body.s !== scope || !Array.isArray(body.k)) throw bad();
  return body.k;
}

/** A positive counter (sequence, release or version number) as a cursor: at most 18 digits, so always within int64. */
export const COUNTER_KEY = /^[1-9][0-9]{0,17}$/;

/** A text cursor (a name or URN): compared as a bound parameter, so only its length needs bounding. */
export const TEXT_KEY = /^[\s\S]{1,1024}$/;

/**
 * Decodes a page token whose cursor is one string matching `pattern`; undefined
 * for "" (first page). The checksum only catches accidents: a token made by hand
 * can pass it, so the cursor is checked before it reaches a query.
 */
export function decodePageKey(scope: string, token: string, pattern: RegExp): string | undefined {
  const key = decodePageToken(scope, token);
  if (key === undefined) return undefined;
  const [value, ...rest] = key;
  if (typeof value !== "string" || !pattern.test(value) || rest.length > 0) {
    throw invalidArgument("page_token", NOT_A_TOKEN);
  }
  return value;
}

/** Splits a page fetched with limit+1 rows into the page and the next token. */
export function paginate<T>(rows: T[], size: number, scope: string, keyOf: (row: T) => (string | number)[]): { items: T[]; nextPageToken: string } {
  if (rows.length <= size) return { items: rows, nextPageToken: "" };
  const items = rows.slice(0, size);
  return { items, nextPageToken: encodePageToken(scope, keyOf(items[items.length - 1]!)) };
}
