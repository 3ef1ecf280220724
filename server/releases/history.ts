import type { ServiceImpl } from "@connectrpc/connect";
import type { ReleaseService } from "../../gen/releases/v1/releases_pb.js";
import type { ServiceContext } from "../context.js";
import { authorize } from "../auth/scope.js";
import { snapshot } from "../db/transaction.js";
import { findRelease, listEvents, listReleases } from "../model/releases.js";
import { findToolsetForHistory } from "../model/toolsets.js";
import { invalidArgument } from "../platform/errors.js";
import { COUNTER_KEY, decodePageKey, paginate } from "../platform/pagination.js";
import { pageSize, slug as checkSlug, UUID } from "../platform/validate.js";
import { toRelease, toReleaseEvent } from "./mapping.js";

type HistoryMethods = Pick<ServiceImpl<typeof ReleaseService>, "listReleases" | "getRelease" | "listReleaseEvents">;

/** ListReleases, GetRelease and ListReleaseEvents; they also read the history of a deleted toolset. */
export function historyMethods({ db }: ServiceContext): HistoryMethods {
  return {
    async listReleases(req, ctx) {
      const { project } = await authorize(db, ctx, req.project);
      const slug = checkSlug("slug", req.slug);
      const size = pageSize(req.pageSize);
      // The pointer and the releases from one snapshot, so is_current is never stale within a page.
      return snapshot(db, async (trx) => {
        const toolset = await findToolsetForHistory(trx, project.id, slug);
        const scope = `ListReleases:${toolset.id}`;
        const after = decodePageKey(scope, req.pageToken, COUNTER_KEY);
        const rows = await listReleases(trx, toolset.id, after === undefined ? undefined : BigInt(after), size + 1);
        const { items, nextPageToken } = paginate(rows, size, scope, (r) => [r.release.release_number.toString()]);
        return { releases: items.map((r) => toRelease(r, toolset.current_release_id)), nextPageToken };
      });
    },

    async getRelease(req, ctx) {
      const { project } = await authorize(db, ctx, req.project);
      const slug = checkSlug("slug", req.slug);
      if (req.releaseNumber < 1n) throw invalidArgument("release_number", "must be at least 1");
      return snapshot(db, async (trx) => {
        const toolset = await findToolsetForHistory(trx, project.id, slug);
        return { release: toRelease(await findRelease(trx, toolset.id, req.releaseNumber), toolset.current_release_id) };
      });
    },

    async listReleaseEvents(req, ctx) {
      const { project } = await authorize(db, ctx, req.project);
      const slug = checkSlug("slug", req.slug);
      const size = pageSize(req.pageSize);
      const toolset = await findToolsetForHistory(db, project.id, slug);
      const scope = `ListReleaseEvents:${toolset.id}`;
      const after = decodePageKey(scope, req.pageToken, UUID);
      const rows = await listEvents(db, toolset.id, after, size + 1);
      const { items, nextPageToken } = paginate(rows, size, scope, (r) => [r.id]);
      return { events: items.map(toReleaseEvent), nextPageToken };
    },
  };
}
