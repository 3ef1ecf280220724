import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { StringListSchema, ToolVariationSchema, type ToolsetService, type ToolVariation } from "../../gen/toolsets/v1/toolsets_pb.js";
import type { ServiceContext } from "../context.js";
import { authorize } from "../auth/scope.js";
import { inTransaction } from "../db/transaction.js";
import { toTimestamp } from "../platform/mapping.js";
import { parseScope, parseToolUrn, parseVariation } from "./variation-input.js";
import {
  currentScopeVariations,
  deleteVariation,
  findScopeGroupId,
  lockScopeGroup,
  upsertVariation,
  variationVersions,
  type ToolVariationRow,
} from "./variation-store.js";

type VariationMethods = Pick<ServiceImpl<typeof ToolsetService>, "upsertToolVariation" | "listToolVariations" | "listToolVariationVersions" | "deleteToolVariation">;

/** The variation RPCs of ToolsetService. */
export function variationMethods(context: ServiceContext): VariationMethods {
  const { db } = context;
  return {
    async upsertToolVariation(req, ctx) {
      const { project } = await authorize(db, ctx, req.project);
      const scope = parseScope(req.scope);
      const fields = parseVariation(req.variation);
      const row = await inTransaction(db, async (trx) => {
        const groupId = await lockScopeGroup(trx, project.id, scope, true);
        return upsertVariation(trx, groupId, fields);
      });
      return { variation: toToolVariation(row) };
    },

    async listToolVariations(req, ctx) {
      const { project } = await authorize(db, ctx, req.project);
      const scope = parseScope(req.scope);
      return { variations: (await currentScopeVariations(db, project.id, scope)).map(toToolVariation) };
    },

    async listToolVariationVersions(req, ctx) {
      const { project } = await authorize(db, ctx, req.project);
      const scope = parseScope(req.scope);
      const urn = parseToolUrn("src_tool_urn", req.srcToolUrn);
      const groupId = await findScopeGroupId(db, project.id, scope);
      const rows = groupId === null ? [] : await variationVersions(db, groupId, urn);
      return { versions: rows.map(toToolVariation) };
    },

    async deleteToolVariation(req, ctx) {
      const { project } = await authorize(db, ctx, req.project);
      const scope = parseScope(req.scope);
      const urn = parseToolUrn("src_tool_urn", req.srcToolUrn);
      await inTransaction(db, async (trx) => {
        const groupId = await lockScopeGroup(trx, project.id, scope, false);
        await deleteVariation(trx, groupId, urn);
      });
      return {};
    },
  };
}

/** A stored variation version as the API shows it: null columns stay unset (inherit). */
export function toToolVariation(row: ToolVariationRow): ToolVariation {
  return create(ToolVariationSchema, {
    id: row.id,
    groupId: row.group_id,
    srcToolUrn: row.src_tool_urn,
    version: row.version,
    predecessorId: row.predecessor_id ?? "",
    name: row.name ?? undefined,
    description: row.description ?? undefined,
    summary: row.summary ?? undefined,
    title: row.title ?? undefined,
    confirm: row.confirm ?? undefined,
    confirmPrompt: row.confirm_prompt ?? undefined,
    summarizer: row.summarizer ?? undefined,
    tags: row.tags === null ? undefined : create(StringListSchema, { values: row.tags }),
    readOnlyHint: row.read_only_hint ?? undefined,
    destructiveHint: row.destructive_hint ?? undefined,
    idempotentHint: row.idempotent_hint ?? undefined,
    openWorldHint: row.open_world_hint ?? undefined,
    createdAt: toTimestamp(row.created_at),
  });
}
