import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { ResolvedToolsetSchema, Target, type ReleaseService, type ResolvedToolset } from "../../gen/releases/v1/releases_pb.js";
import type { Deps } from "../app.js";
import { authorize } from "../auth/scope.js";
import type { ToolsetRow } from "../db/database.js";
import { invalidArgument } from "../platform/errors.js";
import { slug as checkSlug, text } from "../platform/validate.js";
import { contentKey, WeightedLru } from "../resolve/cache.js";
import { latestSourcePins, resolveContent, type ResolvedContent } from "../resolve/resolve.js";
import { findLiveToolset, findLiveToolsetByMcpSlug } from "../toolsets/lookup.js";
import { toEditingMode } from "../toolsets/mapping.js";

const KNOWN_TARGETS = new Set<Target>([Target.UNSPECIFIED, Target.LIVE, Target.STAGING]);

/** ResolveToolset: what an MCP endpoint serves, cheap enough to call on every session. */
export function resolveToolsetMethod({ db, resolveCacheTools }: Deps): Pick<ServiceImpl<typeof ReleaseService>, "resolveToolset"> {
  // Resolved messages are shared between responses; nothing mutates them.
  const cache = new WeightedLru<ResolvedToolset>(resolveCacheTools, (m) => m.tools.length + 1);
  return {
    async resolveToolset(req, ctx) {
      const { project } = await authorize(db, ctx, req.project);
      if ((req.slug === "") === (req.mcpSlug === "")) throw invalidArgument("slug", "give exactly one of slug or mcp_slug");
      if (req.slug !== "") checkSlug("slug", req.slug);
      else checkSlug("mcp_slug", req.mcpSlug);
      if (req.releaseNumber < 0n) throw invalidArgument("release_number", "must not be negative");
      if (req.releaseNumber !== 0n && req.target !== Target.UNSPECIFIED) throw invalidArgument("target", "give either target or release_number, not both");
      if (!KNOWN_TARGETS.has(req.target)) throw invalidArgument("target", "must be TARGET_LIVE or TARGET_STAGING");
      text("if_none_match", req.ifNoneMatch, { max: 128 });

      const target = req.target === Target.UNSPECIFIED ? Target.LIVE : req.target;
      // One snapshot: the toolset row, the source pins and the content must agree,
      // or a concurrent edit could yield an etag for a state that never existed.
      const resolved = await db
        .transaction()
        .setIsolationLevel("repeatable read")
        .setAccessMode("read only")
        .execute(async (trx) => {
          const live = req.slug !== "" ? await findLiveToolset(trx, project.id, req.slug) : await findLiveToolsetByMcpSlug(trx, project.id, req.mcpSlug);
          if (req.releaseNumber !== 0n || target !== Target.LIVE || live.editing_mode === "staging") {
            throw new ConnectError("resolving staging copies and releases is not implemented yet", Code.Unimplemented);
          }
          const selection = { name: live.name, description: live.description, toolUrns: live.tool_urns, promptTemplateNames: live.prompt_template_names };
          const pins = await latestSourcePins(trx, project.id, live.tool_variations_group_id, selection.promptTemplateNames);
          // The content key covers everything resolved from immutable rows; the
          // rest of the message comes from the toolset row itself.
          const key = `${contentKey(selection, pins)}:${live.id}:${live.slug}:${live.mcp_slug ?? ""}:${live.editing_mode}:0`;
          const cached = cache.get(key);
          if (cached) return cached;
          const message = toResolved(live, 0n, await resolveContent(trx, project.id, selection, pins));
          cache.set(key, message);
          return message;
        });
      if (req.ifNoneMatch !== "" && req.ifNoneMatch === resolved.etag) return { notModified: true };
      return { resolved, notModified: false };
    },
  };
}

/** Maps resolved content to the API message; merged tools and prompts already have its shape. */
export function toResolved(toolset: ToolsetRow, releaseNumber: bigint, content: ResolvedContent): ResolvedToolset {
  return create(ResolvedToolsetSchema, {
    toolsetId: toolset.id,
    slug: toolset.slug,
    name: toolset.name,
    description: toolset.description,
    mcpSlug: toolset.mcp_slug ?? "",
    editingMode: toEditingMode(toolset),
    releaseNumber,
    etag: content.etag,
    tools: content.tools,
    prompts: content.prompts,
  });
}
