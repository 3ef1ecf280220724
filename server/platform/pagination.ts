import { createHash } from "node:crypto";
import { invalidArgument } from "./errors.js";
import { pageSize, SLUG, UUID } from "./validate.js";

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

/** How a list's sort key travels in a page token, and the shape a decoded one must have. */
export interface PageKey<K> {
  /** What a cursor must match: a token made by hand can pass the checksum, so the cursor is checked before it reaches a query. */
  pattern: RegExp;
  parse: (text: string) => K;
  text: (key: K) => string;
}

const textKey = (pattern: RegExp): PageKey<string> => ({ pattern, parse: (s) => s, text: (s) => s });

/** A positive counter (sequence, release or version number): at most 18 digits, so always within int64. */
export const COUNTER_KEY: PageKey<bigint> = { pattern: /^[1-9][0-9]{0,17}$/, parse: BigInt, text: String };

/** A name or URN: compared as a bound parameter, so only its length needs bounding. */
export const TEXT_KEY = textKey(/^[\s\S]{1,1024}$/);

/** A slug. */
export const SLUG_KEY = textKey(SLUG);

/** A uuid. */
export const UUID_KEY = textKey(UUID);

/** A list request's page_size and page_token, the size validated (before any transaction starts). */
export interface PageRequest {
  size: number;
  token: string;
}

/** Validates page_size (0 = default, negative = INVALID_ARGUMENT, capped at the maximum). */
export function pageRequest(req: { pageSize: number; pageToken: string }): PageRequest {
  return { size: pageSize(req.pageSize), token: req.pageToken };
}

/**
 * One keyset page of the list named `list` (the RPC and the ids that scope it, so
 * a token of another list is refused): decodes the cursor, fetches `size + 1`
 * rows after it and returns `size` of them with the token of the next page ("" on
 * the last), made from the last row's `keyOf`.
 */
export async function readPage<R, K>(
  page: PageRequest,
  list: string,
  key: PageKey<K>,
  fetch: (after: K | undefined, limit: number) => Promise<R[]>,
  keyOf: (row: R) => K,
): Promise<{ items: R[]; nextPageToken: string }> {
  const after = decodePageToken(list, page.token);
  let cursor: K | undefined;
  if (after !== undefined) {
    const [value, ...rest] = after;
    if (typeof value !== "string" || !key.pattern.test(value) || rest.length > 0) throw invalidArgument("page_token", NOT_A_TOKEN);
    cursor = key.parse(value);
  }
  const rows = await fetch(cursor, page.size + 1);
  if (rows.length <= page.size) return { items: rows, nextPageToken: "" };
  const items = rows.slice(0, page.size);
  return { items, nextPageToken: encodePageToken(list, [key.text(keyOf(items[items.length - 1]!))]) };
}
