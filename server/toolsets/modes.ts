import type { ServiceImpl } from "@connectrpc/connect";
import { EditingMode, type ToolsetService } from "../../gen/toolsets/v1/toolsets_pb.js";
import type { ServiceContext } from "../context.js";
import type { Caller } from "../auth/caller.js";
import { authorize } from "../auth/scope.js";
import { TOOLSET_STAGING } from "../auth/tenants.js";
import type { Database, ToolsetRow } from "../db/database.js";
import { inTransaction } from "../db/transaction.js";
import { captureSourceState, findRelease, getRelease, insertRelease, moveLivePointer, releasedToolsetState } from "../model/releases.js";
import { adoptToolsetVariations, createStagingCopy, discardStagingCopy, matchesRelease } from "../model/staging.js";
import { organizationFeatures } from "../model/tenants.js";
import {
  currentToolset,
  findLiveToolset,
  findStagingCopy,
  lockLiveToolset,
  lockStagingCopy,
  stateChanged,
  stateOf,
  updateToolsetState,
  type StateWithVariations,
} from "../model/toolsets.js";
import { ERROR_REASONS, failedPrecondition, invalidArgument, notFound } from "../platform/errors.js";
import { toToolset } from "../platform/mapping.js";
import { slug as checkSlug } from "../platform/validate.js";
import { resolveLatest } from "../resolve/resolve.js";
import type { Kysely, Transaction } from "kysely";

type ModeMethods = Pick<
  ServiceImpl<typeof ToolsetService>,
  "switchEditingMode" | "createStagingVersion" | "getStagingVersion" | "discardStagingVersion"
>;

/** SwitchEditingMode and the staging copy RPCs. */
export function modeMethods({ db, tenancy }: ServiceContext): ModeMethods {
  return {
    async switchEditingMode(req, ctx) {
      const { caller, project } = await authorize(tenancy, ctx, req.project);
      const slug = checkSlug("slug", req.slug);
      if (req.mode !== EditingMode.ITERATION && req.mode !== EditingMode.STAGING) {
        throw invalidArgument("mode", "must be EDITING_MODE_ITERATION or EDITING_MODE_STAGING");
      }
      if (req.mode === EditingMode.STAGING) {
        if (req.discardStaging) throw invalidArgument("discard_staging", "applies only to a switch to EDITING_MODE_ITERATION");
        await requireStagingFeature(db, project.organizationId);
      }
      const row = await inTransaction(db, async (trx) => {
        const live = await lockLiveToolset(trx, project.id, slug);
        const wanted = req.mode === EditingMode.STAGING ? "staging" : "iteration";
        // Switching to the mode it is in is a no-op, so a retried switch succeeds.
        if (live.editing_mode !== wanted) {
          await (wanted === "staging" ? switchToStaging(trx, live, caller) : switchToIteration(trx, live, caller, req.discardStaging));
        }
        return currentToolset(trx, live.id);
      });
      return { toolset: toToolset(row) };
    },

    async createStagingVersion(req, ctx) {
      const { project } = await authorize(tenancy, ctx, req.project);
      const slug = checkSlug("slug", req.slug);
      const copy = await inTransaction(db, async (trx) => {
        const live = await lockLiveToolset(trx, project.id, slug);
        if (live.editing_mode !== "staging") {
          throw failedPrecondition(
            ERROR_REASONS.STAGING_MODE_REQUIRED,
            `toolset "${slug}" is in iteration mode: switch it to staging mode, which creates the staging copy`,
          );
        }
        return createStagingCopy(trx, live, await releasedState(trx, live));
      });
      return { toolset: toToolset({ ...copy, current_release_number: null }) };
    },

    async getStagingVersion(req, ctx) {
      const { project } = await authorize(tenancy, ctx, req.project);
      const slug = checkSlug("slug", req.slug);
      return { toolset: toToolset(await findStagingCopy(db, await findLiveToolset(db, project.id, slug))) };
    },

    async discardStagingVersion(req, ctx) {
      const { project } = await authorize(tenancy, ctx, req.project);
      const slug = checkSlug("slug", req.slug);
      await inTransaction(db, async (trx) => {
        const live = await lockLiveToolset(trx, project.id, slug);
        const copy = await lockStagingCopy(trx, live);
        if (!copy) throw notFound(`toolset "${slug}" has no staging copy`);
        await discardStagingCopy(trx, copy);
      });
      return {};
    },
  };
}

async function requireStagingFeature(db: Kysely<Database>, organizationId: string): Promise<void> {
  if (!(await organizationFeatures(db, organizationId)).includes(TOOLSET_STAGING)) {
    throw failedPrecondition(
      ERROR_REASONS.FEATURE_NOT_ENABLED,
      `staging mode needs the "${TOOLSET_STAGING}" feature, which this organization does not have`,
      { feature: TOOLSET_STAGING },
    );
  }
}

/**
 * ITERATION → STAGING (rule 2): the live state, over the latest project state,
 * becomes the next release and current, so the endpoint serves the same content
 * with the same etag; the staging copy starts from it.
 */
async function switchToStaging(trx: Transaction<Database>, live: ToolsetRow, caller: Caller): Promise<ToolsetRow> {
  if (live.predecessor_id === null) throw new Error(`toolset ${live.id} has no snapshot of its state`);
  const { pins, content } = await resolveLatest(trx, live);
  const sourceStateId = await captureSourceState(trx, live.project_id, pins);
  const release = await insertRelease(trx, live.id, caller, {
    notes: "",
    idempotencyKey: null,
    sourceStateId,
    toolsetVersionId: live.predecessor_id,
    pins,
    etag: content.etag,
  });
  const moved = await moveLivePointer(trx, live, { kind: "mode_switched", to: release.id, mode: "staging", notes: "", actor: caller });
  await createStagingCopy(trx, moved, { state: stateOf(live), toolsetVariationsVersionId: pins.toolsetVariationsVersionId });
  return moved;
}

/**
 * STAGING → ITERATION (rule 6): the live row and its own variation group take
 * the current release's state, the staging copy is discarded (refused while it
 * holds unpublished changes, unless `discard`), and the pointer is cleared: from
 * now on the toolset follows the latest project state. Releases stay.
 */
async function switchToIteration(trx: Transaction<Database>, live: ToolsetRow, caller: Caller, discard: boolean): Promise<ToolsetRow> {
  const copy = await lockStagingCopy(trx, live);
  const released = await releasedState(trx, live);
  if (copy) {
    if (!discard && (await holdsUnpublishedChanges(trx, live, copy, released))) {
      throw failedPrecondition(
        ERROR_REASONS.UNPUBLISHED_CHANGES,
        `the staging copy of toolset "${live.slug}" holds unpublished changes (no release has its state): publish them, or set discard_staging to drop them`,
      );
    }
    await discardStagingCopy(trx, copy);
  }
  const restored = stateChanged(stateOf(live), released.state) ? await updateToolsetState(trx, live, released.state) : live;
  await adoptToolsetVariations(trx, restored, released.toolsetVariationsVersionId);
  return moveLivePointer(trx, restored, { kind: "mode_switched", to: null, mode: "iteration", notes: "", actor: caller });
}

/**
 * Whether discarding the copy would lose edits: it matches neither the current
 * release nor the newest one (after a rollback the copy usually still holds the
 * newest release, which is published, not lost). One indexed lookup each.
 */
async function holdsUnpublishedChanges(
  trx: Transaction<Database>,
  live: ToolsetRow,
  copy: ToolsetRow,
  current: StateWithVariations,
): Promise<boolean> {
  if (await matchesRelease(trx, copy, current)) return false;
  const newest = await findRelease(trx, live.id, live.last_release_number);
  return newest.release.id === live.current_release_id || !(await matchesRelease(trx, copy, releasedToolsetState(newest)));
}

/** The state a toolset in staging mode serves: its current release's selection, metadata and toolset variations. */
async function releasedState(trx: Transaction<Database>, live: ToolsetRow): Promise<StateWithVariations> {
  if (live.current_release_id === null) throw new Error(`toolset ${live.id} is in staging mode without a current release`);
  return releasedToolsetState(await getRelease(trx, live.current_release_id));
}
