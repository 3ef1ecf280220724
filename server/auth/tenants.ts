import type { Kysely } from "kysely";
import type { Database } from "../db/database.js";
import { findOrganizationId, insertOrganization, insertProject } from "../model/tenants.js";
import { alreadyExists, invalidArgument, notFound } from "../platform/errors.js";
import { slug as checkSlug } from "../platform/validate.js";

/** The feature that lets an organization's toolsets use staging mode (DESIGN §2 rule 8). */
export const TOOLSET_STAGING = "toolset_staging";

/** Features an organization can be given. */
export const KNOWN_FEATURES = [TOOLSET_STAGING] as const;

/** Creates an organization; ALREADY_EXISTS when the slug is taken. */
export async function createOrganization(
  db: Kysely<Database>,
  args: { slug: string; name?: string | undefined; features?: string[] | undefined },
): Promise<{ id: string; slug: string }> {
  checkSlug("org", args.slug);
  for (const f of args.features ?? []) {
    if (!(KNOWN_FEATURES as readonly string[]).includes(f))
      throw invalidArgument("feature", `unknown feature "${f}" (known: ${KNOWN_FEATURES.join(", ")})`);
  }
  const row = await insertOrganization(db, { slug: args.slug, name: args.name ?? args.slug, features: [...new Set(args.features ?? [])] });
  if (!row) throw alreadyExists("organization", `organization "${args.slug}" already exists`);
  return row;
}

/** Creates a project in an organization; ALREADY_EXISTS when the slug is taken there. */
export async function createProject(
  db: Kysely<Database>,
  args: { org: string; slug: string; name?: string | undefined },
): Promise<{ id: string; slug: string }> {
  checkSlug("project", args.slug);
  const orgId = await findOrganizationId(db, args.org);
  if (orgId === undefined) throw notFound(`organization "${args.org}" not found`);
  const row = await insertProject(db, { organization_id: orgId, slug: args.slug, name: args.name ?? args.slug });
  if (!row) throw alreadyExists("project", `project "${args.slug}" already exists in organization "${args.org}"`);
  return row;
}
