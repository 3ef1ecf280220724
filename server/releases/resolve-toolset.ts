import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { ResolvedToolsetSchema, type ReleaseService, type ResolvedToolset } from "../../gen/releases/v1/releases_pb.js";
import type { ServiceContext } from "../context.js";
import { authorize } from "../auth/scope.js";
import { snapshot } from "../db/transaction.js";
import type { ToolsetRow } from "../db/database.js";
import { invalidArgument } from "../platform/errors.js";
import { slug as checkSlug, text } from "../platform/validate.js";
import { contentKey } from "../resolve/cache.js";
import { resolveContent, rowSelection, type ResolvedContent } from "../resolve/resolve.js";
import { findLiveToolset, findLiveToolsetByMcpSlug } from "../toolsets/lookup.js";
import { toEditingMode } from "../toolsets/mapping.js";
import { parseTarget, targetState, type TargetState } from "./targets.js";

/** ResolveToolset: what an MCP endpoint serves, cheap enough to call on every session. */
export function resolveToolsetMethod({ db, resolveCache: cache }: ServiceContext): Pick<ServiceImpl<typeof ReleaseService>, "resolveToolset"> {
  return {
    async resolveToolset(req, ctx) {
      const { project } = await authorize(db, ctx, req.project);
      if ((req.slug === "") === (req.mcpSlug === "")) throw invalidArgument("slug", "give exactly one of slug or mcp_slug");
      if (req.slug !== "") checkSlug("slug", req.slug);
      else checkSlug("mcp_slug", req.mcpSlug);
      const ref = parseTarget("", req.target, req.releaseNumber);
      text("if_none_match", req.ifNoneMatch, { max: 128 });

      // One snapshot: the toolset row, the source pins and the content must agree,
      // or a concurrent edit could yield an etag for a state that never existed.
      const resolved = await snapshot(db, async (trx) => {
          const live = req.slug !== "" ? await findLiveToolset(trx, project.id, req.slug) : await findLiveToolsetByMcpSlug(trx, project.id, req.mcpSlug);
          const target = await targetState(trx, live, ref);
          const selection = rowSelection(target.state);
          // The content key covers everything resolved from immutable rows; the
          // rest of the message comes from the toolset and the target.
          const key = [contentKey(selection, target.pins), live.id, live.slug, target.state.mcp_slug ?? "", live.editing_mode, target.releaseNumber].join(":");
          const cached = cache.get(key);
          if (cached) return cached;
          const message = toResolved(live, target, await resolveContent(trx, project.id, selection, target.pins));
          cache.set(key, message);
          return message;
        });
      if (req.ifNoneMatch !== "" && req.ifNoneMatch === resolved.etag) return { notModified: true };
      return { resolved, notModified: false };
    },
  };
}

/** Maps resolved content to the API message; merged tools and prompts already have its shape. */
function toResolved(live: ToolsetRow, target: TargetState, content: ResolvedContent): ResolvedToolset {
  return create(ResolvedToolsetSchema, {
    toolsetId: live.id,
    slug: live.slug,
    name: target.state.name,
    description: target.state.description,
    mcpSlug: target.state.mcp_slug ?? "",
    editingMode: toEditingMode(live),
    releaseNumber: target.releaseNumber,
    etag: content.etag,
    tools: content.tools,
    prompts: content.prompts,
  });
}
