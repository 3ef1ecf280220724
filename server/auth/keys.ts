import { createHash, randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import type { ApiKeyScope, Database } from "../db/database.js";
import { findOrganizationId, findProject, insertApiKey, revokeApiKeyByName } from "../model/tenants.js";
import { notFound } from "../platform/errors.js";

const KEY_PREFIX = "tsr_";
const SECRET_BYTES = 32;
/** Shape of a key as issued: `tsr_` + 43 base64url characters. */
export const API_KEY_PATTERN = /^tsr_[A-Za-z0-9_-]{43}$/;
const DISPLAY_PREFIX_LENGTH = 12;

/** A freshly issued key; `key` is shown once and never stored. */
export interface IssuedKey {
  id: string;
  name: string;
  key: string;
  displayPrefix: string;
}

/** SHA-256 of the whole key: the only form in which a key is stored. */
export function hashApiKey(key: string): Buffer {
  return createHash("sha256").update(key, "utf8").digest();
}

/** Makes a new random key (256 bits of entropy). */
export function generateApiKey(): string {
  return KEY_PREFIX + randomBytes(SECRET_BYTES).toString("base64url");
}

/** Creates a key for an organization, optionally bound to one of its projects. */
export async function createApiKey(
  db: Kysely<Database>,
  args: { org: string; scope: ApiKeyScope; project?: string | undefined; name?: string | undefined },
): Promise<IssuedKey> {
  const orgId = await findOrganizationId(db, args.org);
  if (orgId === undefined) throw notFound(`organization "${args.org}" not found`);
  let projectId: string | null = null;
  if (args.project !== undefined) {
    const project = await findProject(db, orgId, args.project);
    if (!project) throw notFound(`project "${args.project}" not found in organization "${args.org}"`);
    projectId = project.id;
  }
  const key = generateApiKey();
  const displayPrefix = key.slice(0, DISPLAY_PREFIX_LENGTH);
  const name = args.name ?? `${args.scope}-${displayPrefix.slice(KEY_PREFIX.length)}`;
  const id = await insertApiKey(db, {
    organization_id: orgId,
    project_id: projectId,
    name,
    scope: args.scope,
    key_hash: hashApiKey(key),
    display_prefix: displayPrefix,
  });
  return { id, name, key, displayPrefix };
}

/** Revokes the active key of that name; later calls with it get UNAUTHENTICATED. */
export async function revokeApiKey(db: Kysely<Database>, args: { org: string; name: string }): Promise<void> {
  if (!(await revokeApiKeyByName(db, args.org, args.name))) throw notFound(`no active key "${args.name}" in organization "${args.org}"`);
}
