import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import { callerOf, type Caller } from "./caller.js";
import { resolveProject, type ProjectScope } from "./project.js";
import type { Tenancy } from "./tenancy.js";

/**
 * The project a call worked in, once authorize() has found it: after a write,
 * the app drops what this process holds of that project before it answers, so
 * a client reads its own writes.
 */
export const projectScopeKey = createContextKey<ProjectScope | undefined>(undefined, { description: "project of the call" });

/** The caller and the project a handler works in: the first step of every project-scoped handler. */
export async function authorize(tenancy: Tenancy, ctx: HandlerContext, project: string): Promise<{ caller: Caller; project: ProjectScope }> {
  const caller = callerOf(ctx);
  const scope = await resolveProject(tenancy, caller, project);
  ctx.values.set(projectScopeKey, scope);
  return { caller, project: scope };
}
