import type { ServiceImpl } from "@connectrpc/connect";
import type { ReleaseService } from "../../gen/releases/v1/releases_pb.js";
import type { ServiceContext } from "../context.js";
import { authorize } from "../auth/scope.js";
import { inTransaction } from "../db/transaction.js";
import { findRelease, moveLivePointer } from "../model/releases.js";
import { lockLiveToolset, stateChanged, stateOf, updateToolsetState } from "../model/toolsets.js";
import { ERROR_REASONS, failedPrecondition, invalidArgument } from "../platform/errors.js";
import { toToolset } from "../platform/mapping.js";
import { LIMITS, slug as checkSlug, text } from "../platform/validate.js";

/** RollbackToRelease. */
export function rollbackMethod({ db, tenancy }: ServiceContext): Pick<ServiceImpl<typeof ReleaseService>, "rollbackToRelease"> {
  return {
    /**
     * DESIGN §2 rule 5, in one transaction: lock the live row, find the release
     * among this toolset's own, restore the live selection and metadata from its
     * snapshot, move the pointer and log the event. Only this toolset moves; the
     * staging copy and project sources stay as they are.
     */
    async rollbackToRelease(req, ctx) {
      const { caller, project } = await authorize(tenancy, ctx, req.project);
      const slug = checkSlug("slug", req.slug);
      if (req.releaseNumber < 1n) throw invalidArgument("release_number", "must be at least 1");
      const reason = text("reason", req.reason, { max: LIMITS.notes });
      const { row, number } = await inTransaction(db, async (trx) => {
        const live = await lockLiveToolset(trx, project.id, slug);
        if (live.editing_mode !== "staging") {
          throw failedPrecondition(
            ERROR_REASONS.STAGING_MODE_REQUIRED,
            `toolset "${slug}" is in iteration mode: only a toolset in staging mode serves releases`,
          );
        }
        const target = await findRelease(trx, live.id, req.releaseNumber);
        // Already current: nothing moves and no event is logged, so a retry is harmless.
        if (target.release.id === live.current_release_id) return { row: live, number: target.release.release_number };
        const restored = stateChanged(stateOf(live), target.state) ? await updateToolsetState(trx, live, target.state) : live;
        const moved = await moveLivePointer(trx, restored, { kind: "rolled_back", to: target.release.id, notes: reason, actor: caller });
        return { row: moved, number: target.release.release_number };
      });
      return { toolset: toToolset({ ...row, current_release_number: number }) };
    },
  };
}
