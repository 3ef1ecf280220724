import type { HandlerContext } from "@connectrpc/connect";
import type { Kysely } from "kysely";
import type { Database } from "../db/database.js";
import { callerOf, type Caller } from "./caller.js";
import { resolveProject, type ProjectScope } from "./project.js";

/** The caller and the project a handler works in: the first step of every project-scoped handler. */
export async function authorize(db: Kysely<Database>, ctx: HandlerContext, project: string): Promise<{ caller: Caller; project: ProjectScope }> {
  const caller = callerOf(ctx);
  return { caller, project: await resolveProject(db, caller, project) };
}
