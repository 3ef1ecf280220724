import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { AccountService } from "../../gen/accounts/v1/accounts_pb.js";
import { callerOf } from "../auth/caller.js";
import type { ServiceContext } from "../context.js";
import { findOrganization, projectSlugById } from "../model/tenants.js";
import { toKeyScope } from "./mapping.js";

/** GetCaller. */
export function callerMethods({ db }: ServiceContext): Pick<ServiceImpl<typeof AccountService>, "getCaller"> {
  return {
    async getCaller(_req, ctx) {
      const caller = callerOf(ctx);
      const [organization, projectSlug] = await Promise.all([
        findOrganization(db, caller.organizationId),
        caller.projectId === null ? undefined : projectSlugById(db, caller.organizationId, caller.projectId),
      ]);
      // Deleted since the key was looked up (the served caller is dropped by the change feed a moment later).
      if (organization === undefined) throw new ConnectError("unknown or revoked API key", Code.Unauthenticated);
      return { keyName: caller.keyName, scope: toKeyScope(caller.scope), organization, projectSlug: projectSlug ?? "" };
    },
  };
}
