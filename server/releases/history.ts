import type { ServiceImpl } from "@connectrpc/connect";
import type { ReleaseService } from "../../gen/releases/v1/releases_pb.js";
import type { ServiceContext } from "../context.js";
import { authorize } from "../auth/scope.js";
import { snapshot } from "../db/transaction.js";
import { findRelease, listEvents, listReleases } from "../model/releases.js";
import { findToolsetForHistory } from "../model/toolsets.js";
import { invalidArgument } from "../platform/errors.js";
import { COUNTER_KEY, pageRequest, readPage, UUID_KEY } from "../platform/pagination.js";
import { slug as checkSlug } from "../platform/validate.js";
import { toRelease, toReleaseEvent } from "./mapping.js";

type HistoryMethods = Pick<ServiceImpl<typeof ReleaseService>, "listReleases" | "getRelease" | "listReleaseEvents">;

/** ListReleases, GetRelease and ListReleaseEvents; they also read the history of a deleted toolset. */
export function historyMethods({ db, tenancy }: ServiceContext): HistoryMethods {
  return {
    async listReleases(req, ctx) {
      const { project } = await authorize(tenancy, ctx, req.project);
      const slug = checkSlug("slug", req.slug);
      const page = pageRequest(req);
      // The pointer and the releases from one snapshot, so is_current is never stale within a page.
      return snapshot(db, async (trx) => {
        const toolset = await findToolsetForHistory(trx, project.id, slug);
        const { items, nextPageToken } = await readPage(
          page,
          `ListReleases:${toolset.id}`,
          COUNTER_KEY,
          (before, limit) => listReleases(trx, toolset.id, before, limit),
          (r) => r.release.release_number,
        );
        return { releases: items.map((r) => toRelease(r, toolset.current_release_id)), nextPageToken };
      });
    },

    async getRelease(req, ctx) {
      const { project } = await authorize(tenancy, ctx, req.project);
      const slug = checkSlug("slug", req.slug);
      if (req.releaseNumber < 1n) throw invalidArgument("release_number", "must be at least 1");
      return snapshot(db, async (trx) => {
        const toolset = await findToolsetForHistory(trx, project.id, slug);
        return { release: toRelease(await findRelease(trx, toolset.id, req.releaseNumber), toolset.current_release_id) };
      });
    },

    async listReleaseEvents(req, ctx) {
      const { project } = await authorize(tenancy, ctx, req.project);
      const slug = checkSlug("slug", req.slug);
      const page = pageRequest(req);
      const toolset = await findToolsetForHistory(db, project.id, slug);
      const { items, nextPageToken } = await readPage(
        page,
        `ListReleaseEvents:${toolset.id}`,
        UUID_KEY,
        (after, limit) => listEvents(db, toolset.id, after, limit),
        (r) => r.id,
      );
      return { events: items.map(toReleaseEvent), nextPageToken };
    },
  };
}
