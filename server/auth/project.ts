import { Code, ConnectError } from "@connectrpc/connect";
import type { Kysely } from "kysely";
import type { Database } from "../db/database.js";
import type { Caller } from "./caller.js";

/** The project a request is scoped to, after tenancy checks. */
export interface ProjectScope {
  id: string;
  slug: string;
  organizationId: string;
}

const PROJECT_SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * Resolves `project` for the caller. A project of another organization and one
 * that does not exist get the same NOT_FOUND, so nothing leaks across tenants; a
 * project-bound key naming another project of its own organization gets
 * PERMISSION_DENIED.
 */
export async function resolveProject(db: Kysely<Database>, caller: Caller, slug: string): Promise<ProjectScope> {
  if (slug === "") throw new ConnectError("project: required", Code.InvalidArgument);
  if (!PROJECT_SLUG.test(slug)) {
    throw new ConnectError("project: must be 1-63 lowercase letters, digits or hyphens, starting with a letter or digit", Code.InvalidArgument);
  }
  const row = await db
    .selectFrom("projects")
    .select(["id", "slug", "organization_id"])
    .where("organization_id", "=", caller.organizationId)
    .where("slug", "=", slug)
    .where("deleted_at", "is", null)
    .executeTakeFirst();
  if (!row) throw new ConnectError(`project "${slug}" not found`, Code.NotFound);
  if (caller.projectId !== null && caller.projectId !== row.id) {
    throw new ConnectError(`this API key is bound to another project and cannot use project "${slug}"`, Code.PermissionDenied);
  }
  return { id: row.id, slug: row.slug, organizationId: row.organization_id };
}
