import type { ServiceImpl } from "@connectrpc/connect";
import type { ReleaseService } from "../../gen/releases/v1/releases_pb.js";
import type { ServiceContext } from "../context.js";
import type { Caller } from "../auth/caller.js";
import { authorize } from "../auth/scope.js";
import type { Database } from "../db/database.js";
import { inTransaction } from "../db/transaction.js";
import {
  captureSourceState,
  findReleaseByIdempotencyKey,
  getRelease,
  insertRelease,
  moveLivePointer,
  releasedToolsetState,
  type ReleaseState,
} from "../model/releases.js";
import { matchesRelease } from "../model/staging.js";
import { lockLiveToolset, lockStagingCopy, stateChanged, stateOf, updateToolsetState } from "../model/toolsets.js";
import { ERROR_REASONS, failedPrecondition } from "../platform/errors.js";
import { idempotencyKey, LIMITS, slug as checkSlug, text } from "../platform/validate.js";
import { resolveLatest } from "../resolve/resolve.js";
import { toRelease } from "./mapping.js";
import type { Transaction } from "kysely";

/** PublishStagingVersion. */
export function publishMethod({ db, tenancy }: ServiceContext): Pick<ServiceImpl<typeof ReleaseService>, "publishStagingVersion"> {
  return {
    async publishStagingVersion(req, ctx) {
      const { caller, project } = await authorize(tenancy, ctx, req.project);
      const slug = checkSlug("slug", req.slug);
      const notes = text("notes", req.notes, { max: LIMITS.notes });
      const key = idempotencyKey("idempotency_key", req.idempotencyKey) ?? null;
      const { published, currentReleaseId } = await inTransaction(db, (trx) => publish(trx, project.id, slug, caller, notes, key));
      return { release: toRelease(published, currentReleaseId) };
    },
  };
}

/**
 * DESIGN §2 rule 4, in the caller's transaction: lock the live row (then the
 * staging copy: the lock order of every toolset write), resolve the staging
 * copy over the latest project state, refuse when nothing changed, copy the
 * staged selection and metadata onto the live row (a new toolset version), record
 * the sources, insert the next release, move the pointer and log the event. Any
 * failure rolls all of it back, the release number included.
 */
async function publish(
  trx: Transaction<Database>,
  projectId: string,
  slug: string,
  caller: Caller,
  notes: string,
  key: string | null,
): Promise<{ published: ReleaseState; currentReleaseId: string | null }> {
  const live = await lockLiveToolset(trx, projectId, slug);
  if (key !== null) {
    // Checked under the lock, so a retry racing its original waits for it and finds it.
    const original = await findReleaseByIdempotencyKey(trx, live.id, key);
    if (original) return { published: original, currentReleaseId: live.current_release_id };
  }
  if (live.editing_mode !== "staging" || live.current_release_id === null) {
    throw failedPrecondition(
      ERROR_REASONS.STAGING_MODE_REQUIRED,
      `toolset "${slug}" is in iteration mode: its edits are live already; switch it to staging mode to publish releases`,
    );
  }
  const copy = await lockStagingCopy(trx, live);
  if (!copy)
    throw failedPrecondition(
      ERROR_REASONS.STAGING_COPY_MISSING,
      `toolset "${slug}" has no staging copy: create one with CreateStagingVersion, edit it, then publish`,
    );

  const current = await getRelease(trx, live.current_release_id);
  const { pins, content } = await resolveLatest(trx, copy);
  // Something to publish: the project's sources changed what the copy resolves
  // to, or the copy itself differs from the release (also where a client cannot
  // see it yet, e.g. an override of a tool not selected, or mcp_enabled).
  if (content.etag === current.release.etag && (await matchesRelease(trx, copy, releasedToolsetState(current)))) {
    throw failedPrecondition(
      ERROR_REASONS.NOTHING_TO_PUBLISH,
      `no changes to publish: the staging copy of toolset "${slug}" and the project's sources are as in release ${current.release.release_number}`,
    );
  }
  const staged = stateOf(copy);
  // The live row carries the released selection and metadata (rollback restores
  // them from the release's snapshot); its new snapshot is the release's.
  const updated = stateChanged(stateOf(live), staged) ? await updateToolsetState(trx, live, staged) : live;
  if (updated.predecessor_id === null) throw new Error(`toolset ${live.id} has no snapshot of its state`);
  const sourceStateId = await captureSourceState(trx, projectId, pins);
  const release = await insertRelease(trx, live.id, caller, {
    notes,
    idempotencyKey: key,
    sourceStateId,
    toolsetVersionId: updated.predecessor_id,
    pins,
    etag: content.etag,
  });
  await moveLivePointer(trx, updated, { kind: "published", to: release.id, notes, actor: caller });
  return { published: await getRelease(trx, release.id), currentReleaseId: release.id };
}
