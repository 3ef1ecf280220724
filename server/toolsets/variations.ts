import type { ServiceImpl } from "@connectrpc/connect";
import type { ToolsetService } from "../../gen/toolsets/v1/toolsets_pb.js";
import type { ServiceContext } from "../context.js";
import { authorize } from "../auth/scope.js";
import { inTransaction } from "../db/transaction.js";
import {
  currentScopeVariations,
  deleteVariation,
  findScopeGroupId,
  lockScopeGroup,
  upsertVariation,
  variationVersions,
} from "../model/variations.js";
import { toToolVariation } from "./mapping.js";
import { COUNTER_KEY, pageRequest, readPage, TEXT_KEY } from "../platform/pagination.js";
import { parseScope, parseToolUrn, parseVariation, scopeKey } from "./variation-input.js";

type VariationMethods = Pick<
  ServiceImpl<typeof ToolsetService>,
  "upsertToolVariation" | "listToolVariations" | "listToolVariationVersions" | "deleteToolVariation"
>;

/** The variation RPCs of ToolsetService. */
export function variationMethods({ db, tenancy }: ServiceContext): VariationMethods {
  return {
    async upsertToolVariation(req, ctx) {
      const { project } = await authorize(tenancy, ctx, req.project);
      const scope = parseScope(req.scope);
      const fields = parseVariation(req.variation);
      const row = await inTransaction(db, async (trx) => {
        const groupId = await lockScopeGroup(trx, project.id, scope, true);
        return upsertVariation(trx, groupId, fields);
      });
      return { variation: toToolVariation(row) };
    },

    async listToolVariations(req, ctx) {
      const { project } = await authorize(tenancy, ctx, req.project);
      const scope = parseScope(req.scope);
      const page = pageRequest(req);
      const { items, nextPageToken } = await readPage(
        page,
        `ListToolVariations:${project.id}:${scopeKey(scope)}`,
        TEXT_KEY,
        (afterUrn, limit) => currentScopeVariations(db, project.id, scope, { afterUrn, limit }),
        (r) => r.src_tool_urn,
      );
      return { variations: items.map(toToolVariation), nextPageToken };
    },

    async listToolVariationVersions(req, ctx) {
      const { project } = await authorize(tenancy, ctx, req.project);
      const scope = parseScope(req.scope);
      const urn = parseToolUrn("src_tool_urn", req.srcToolUrn);
      const page = pageRequest(req);
      const { items, nextPageToken } = await readPage(
        page,
        `ListToolVariationVersions:${project.id}:${scopeKey(scope)}:${urn}`,
        COUNTER_KEY,
        async (before, limit) => {
          const groupId = await findScopeGroupId(db, project.id, scope);
          return groupId === null ? [] : variationVersions(db, groupId, urn, before, limit);
        },
        (r) => r.version,
      );
      return { versions: items.map(toToolVariation), nextPageToken };
    },

    async deleteToolVariation(req, ctx) {
      const { project } = await authorize(tenancy, ctx, req.project);
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
