import type { ServiceImpl } from "@connectrpc/connect";
import type { AccountService } from "../../gen/accounts/v1/accounts_pb.js";
import { callerOf } from "../auth/caller.js";
import type { ServiceContext } from "../context.js";
import { listLiveProjects } from "../model/tenants.js";
import { pageRequest, readPage, SLUG_KEY } from "../platform/pagination.js";
import { toProject } from "./mapping.js";

/** ListProjects. */
export function projectMethods({ db }: ServiceContext): Pick<ServiceImpl<typeof AccountService>, "listProjects"> {
  return {
    async listProjects(req, ctx) {
      const caller = callerOf(ctx);
      const page = pageRequest(req);
      const { items, nextPageToken } = await readPage(
        page,
        // A token of an unbound key's list is not one of a bound key's, and the reverse.
        `ListProjects:${caller.organizationId}:${caller.projectId ?? ""}`,
        SLUG_KEY,
        (after, limit) => listLiveProjects(db, caller.organizationId, caller.projectId, after, limit),
        (r) => r.slug,
      );
      return { projects: items.map(toProject), nextPageToken };
    },
  };
}
