import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { ApiKeyScope } from "../db/database.js";

/** Who is calling: the API key that authenticated the request. */
export interface Caller {
  keyId: string;
  keyName: string;
  organizationId: string;
  /** Set when the key is bound to one project. */
  projectId: string | null;
  scope: ApiKeyScope;
}

/** Context key under which the auth interceptor stores the caller. */
export const callerKey = createContextKey<Caller | undefined>(undefined, { description: "authenticated caller" });

/** The caller of an authenticated RPC; throws if the interceptor did not run (a wiring bug). */
export function callerOf(ctx: HandlerContext): Caller {
  const caller = ctx.values.get(callerKey);
  if (!caller) throw new Error("no caller in context: is the auth interceptor installed?");
  return caller;
}
