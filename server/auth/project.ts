import { DomainError, notFound } from "../platform/errors.js";
import { slug as checkSlug } from "../platform/validate.js";
import type { Caller } from "./caller.js";
import type { Tenancy } from "./tenancy.js";

/** The project a request is scoped to, after tenancy checks. */
export interface ProjectScope {
  id: string;
  slug: string;
  organizationId: string;
}

/**
 * Resolves `project` for the caller. A project of another organization and one
 * that does not exist get the same NOT_FOUND, so nothing leaks across tenants; a
 * project-bound key naming another project of its own organization gets
 * PERMISSION_DENIED.
 */
export async function resolveProject(tenancy: Tenancy, caller: Caller, slug: string): Promise<ProjectScope> {
  checkSlug("project", slug);
  const project = await tenancy.project(caller.organizationId, slug);
  if (!project) throw notFound(`project "${slug}" not found`);
  if (caller.projectId !== null && caller.projectId !== project.id) {
    throw new DomainError("permission_denied", `this API key is bound to another project and cannot use project "${slug}"`);
  }
  return project;
}
