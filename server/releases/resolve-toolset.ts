import type { ServiceImpl } from "@connectrpc/connect";
import type { ReleaseService } from "../../gen/releases/v1/releases_pb.js";
import type { ServiceContext } from "../context.js";
import { authorize } from "../auth/scope.js";
import { snapshot } from "../db/transaction.js";
import { findLiveToolset, findLiveToolsetByMcpSlug } from "../model/toolsets.js";
import { invalidArgument } from "../platform/errors.js";
import { slug as checkSlug, text } from "../platform/validate.js";
import { contentKey } from "../resolve/cache.js";
import { resolveContent, rowSelection } from "../resolve/resolve.js";
import { targetState } from "../resolve/targets.js";
import { toResolved } from "./mapping.js";
import { parseTarget } from "./release-input.js";

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
        const live =
          req.slug !== "" ? await findLiveToolset(trx, project.id, req.slug) : await findLiveToolsetByMcpSlug(trx, project.id, req.mcpSlug);
        const target = await targetState(trx, live, ref);
        const selection = rowSelection(target.state);
        // The content key covers everything resolved from immutable rows; the
        // rest of the message comes from the toolset and the target.
        const key = [
          contentKey(selection, target.pins),
          live.id,
          live.slug,
          target.state.mcp_slug ?? "",
          live.editing_mode,
          target.releaseNumber,
        ].join(":");
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
