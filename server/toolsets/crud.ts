import type { ServiceImpl } from "@connectrpc/connect";
import type { ToolsetService } from "../../gen/toolsets/v1/toolsets_pb.js";
import type { ServiceContext } from "../context.js";
import { authorize } from "../auth/scope.js";
import { inTransaction } from "../db/transaction.js";
import {
  currentToolset,
  findToolset,
  insertToolset,
  listLiveToolsets,
  lockEditableToolset,
  lockLiveToolset,
  softDeleteToolset,
  stateChanged,
  stateOf,
  updateToolsetState,
} from "../model/toolsets.js";
import { aborted, ERROR_REASONS, invalidArgument } from "../platform/errors.js";
import { toToolset } from "../platform/mapping.js";
import { pageRequest, readPage, SLUG_KEY } from "../platform/pagination.js";
import { slug as checkSlug, slugFromName } from "../platform/validate.js";
import { maskedPatch, promptNames, resourceUrns, toolsetDescription, toolsetName, toolUrns, updateMaskPaths } from "./toolset-input.js";

type CrudMethods = Pick<ServiceImpl<typeof ToolsetService>, "createToolset" | "getToolset" | "listToolsets" | "updateToolset" | "deleteToolset">;

/** CreateToolset, GetToolset, ListToolsets, UpdateToolset, DeleteToolset. */
export function toolsetCrudMethods({ db, tenancy }: ServiceContext): CrudMethods {
  return {
    async createToolset(req, ctx) {
      const { project } = await authorize(tenancy, ctx, req.project);
      const name = toolsetName("name", req.name);
      const slug = req.slug === "" ? slugFromName(name) : checkSlug("slug", req.slug);
      if (slug === undefined) throw invalidArgument("slug", "cannot be derived from name: give a slug of lowercase letters, digits or hyphens");
      const state = {
        name,
        description: toolsetDescription("description", req.description),
        tool_urns: toolUrns("tool_urns", req.toolUrns),
        resource_urns: resourceUrns("resource_urns", req.resourceUrns),
        prompt_template_names: promptNames("prompt_template_names", req.promptTemplateNames),
        mcp_slug: null,
        mcp_enabled: false,
        mcp_is_public: false,
      };
      const row = await inTransaction(db, (trx) => insertToolset(trx, project.id, slug, state));
      return { toolset: toToolset({ ...row, current_release_number: null }) };
    },

    async getToolset(req, ctx) {
      const { project } = await authorize(tenancy, ctx, req.project);
      const slug = checkSlug("slug", req.slug);
      return { toolset: toToolset(await findToolset(db, project.id, slug, req.staging)) };
    },

    async listToolsets(req, ctx) {
      const { project } = await authorize(tenancy, ctx, req.project);
      const page = pageRequest(req);
      const { items, nextPageToken } = await readPage(
        page,
        `ListToolsets:${project.id}`,
        SLUG_KEY,
        (after, limit) => listLiveToolsets(db, project.id, after, limit),
        (r) => r.slug,
      );
      return { toolsets: items.map(toToolset), nextPageToken };
    },

    async updateToolset(req, ctx) {
      const { project } = await authorize(tenancy, ctx, req.project);
      const slug = checkSlug("slug", req.slug);
      const paths = updateMaskPaths(req.updateMask?.paths ?? []);
      if (req.expectedVersion < 0n) throw invalidArgument("expected_version", "must not be negative");
      const patch = maskedPatch(req.fields, paths);
      const row = await inTransaction(db, async (trx) => {
        const current = await lockEditableToolset(trx, project.id, slug, req.staging);
        const next = { ...stateOf(current), ...patch };
        // A write that changes nothing is not a new version, so a retry of an
        // update that already applied succeeds instead of conflicting with itself.
        if (!stateChanged(stateOf(current), next)) return currentToolset(trx, current.id);
        if (req.expectedVersion !== 0n && req.expectedVersion !== current.version) {
          throw aborted(
            ERROR_REASONS.VERSION_CONFLICT,
            `toolset "${slug}" is at version ${current.version}, not ${req.expectedVersion}: read it again and retry`,
            {
              current_version: String(current.version),
            },
          );
        }
        return currentToolset(trx, (await updateToolsetState(trx, current, next)).id);
      });
      return { toolset: toToolset(row) };
    },

    async deleteToolset(req, ctx) {
      const { project } = await authorize(tenancy, ctx, req.project);
      const slug = checkSlug("slug", req.slug);
      await inTransaction(db, async (trx) => {
        const live = await lockLiveToolset(trx, project.id, slug);
        await softDeleteToolset(trx, live.id);
      });
      return {};
    },
  };
}
