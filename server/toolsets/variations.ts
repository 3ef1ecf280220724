import type { ServiceImpl } from "@connectrpc/connect";
import type { ToolsetService } from "../../gen/toolsets/v1/toolsets_pb.js";
import type { ServiceContext } from "../context.js";
import { authorize } from "../auth/scope.js";
import { inTransaction } from "../db/transaction.js";
import { currentScopeVariations, deleteVariation, findScopeGroupId, lockScopeGroup, upsertVariation, variationVersions } from "../model/variations.js";
import { toToolVariation } from "./mapping.js";
import { parseScope, parseToolUrn, parseVariation } from "./variation-input.js";

type VariationMethods = Pick<ServiceImpl<typeof ToolsetService>, "upsertToolVariation" | "listToolVariations" | "listToolVariationVersions" | "deleteToolVariation">;

/** The variation RPCs of ToolsetService. */
export function variationMethods({ db }: ServiceContext): VariationMethods {
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
