import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { ResolvedToolsetSchema, Target, type ReleaseService, type ResolvedToolset } from "../../gen/releases/v1/releases_pb.js";
import { EditingMode } from "../../gen/toolsets/v1/toolsets_pb.js";
import type { Deps } from "../app.js";
import { authorize } from "../auth/scope.js";
import type { ToolsetRow } from "../db/database.js";
import { invalidArgument, notFound } from "../platform/errors.js";
import { slug as checkSlug, text } from "../platform/validate.js";
import { latestSourcePins, resolveContent, type ResolvedContent } from "../resolve/resolve.js";
import { findLiveToolset } from "../toolsets/lookup.js";

/** ResolveToolset: what an MCP endpoint serves, cheap enough to call on every session. */
export function resolveToolsetMethod({ db }: Deps): Pick<ServiceImpl<typeof ReleaseService>, "resolveToolset"> {
  return {
    async resolveToolset(req, ctx) {
      const { project } = await authorize(db, ctx, req.project);
      if ((req.slug === "") === (req.mcpSlug === "")) throw invalidArgument("slug", "give exactly one of slug or mcp_slug");
      if (req.slug !== "") checkSlug("slug", req.slug);
      else checkSlug("mcp_slug", req.mcpSlug);
      if (req.releaseNumber < 0n) throw invalidArgument("release_number", "must not be negative");
      if (req.releaseNumber !== 0n && req.target !== Target.UNSPECIFIED) throw invalidArgument("target", "give either target or release_number, not both");
      text("if_none_match", req.ifNoneMatch, { max: 128 });

      const live = req.slug !== "" ? await findLiveToolset(db, project.id, req.slug) : await findByMcpSlug(db, project.id, req.mcpSlug);
      const target = req.target === Target.UNSPECIFIED ? Target.LIVE : req.target;
      if (req.releaseNumber !== 0n || target !== Target.LIVE || live.editing_mode === "staging") {
        throw new ConnectError("resolving staging copies and releases is not implemented yet", Code.Unimplemented);
      }
      const pins = await latestSourcePins(db, project.id, live.tool_variations_group_id);
      const content = await resolveContent(
        db,
        project.id,
        { name: live.name, description: live.description, toolUrns: live.tool_urns, promptTemplateNames: live.prompt_template_names },
        pins,
      );
      if (req.ifNoneMatch !== "" && req.ifNoneMatch === content.etag) return { notModified: true };
      return { resolved: toResolved(live, 0n, content), notModified: false };
    },
  };
}

async function findByMcpSlug(db: Deps["db"], projectId: string, mcpSlug: string): Promise<ToolsetRow> {
  const row = await db
    .selectFrom("toolsets")
    .selectAll()
    .where("project_id", "=", projectId)
    .where("mcp_slug", "=", mcpSlug)
    .where("parent_toolset_id", "is", null)
    .where("deleted_at", "is", null)
    .executeTakeFirst();
  if (!row) throw notFound(`no toolset with mcp_slug "${mcpSlug}"`);
  return row;
}

/** Maps resolved content to the API message. */
export function toResolved(toolset: ToolsetRow, releaseNumber: bigint, content: ResolvedContent): ResolvedToolset {
  return create(ResolvedToolsetSchema, {
    toolsetId: toolset.id,
    slug: toolset.slug,
    name: toolset.name,
    description: toolset.description,
    mcpSlug: toolset.mcp_slug ?? "",
    editingMode: toolset.editing_mode === "staging" ? EditingMode.STAGING : EditingMode.ITERATION,
    releaseNumber,
    etag: content.etag,
    tools: content.tools.map((t) => ({
      urn: t.urn,
      name: t.name,
      title: t.title,
      description: t.description,
      inputSchema: t.inputSchema,
      tags: t.tags,
      annotations: t.annotations,
      confirm: t.confirm,
      confirmPrompt: t.confirmPrompt,
      summarizer: t.summarizer,
      httpMethod: t.httpMethod,
      path: t.path,
      serverUrl: t.serverUrl,
      variationIds: t.variationIds,
    })),
    prompts: content.prompts.map((p) => ({ id: p.id, name: p.name, description: p.description, prompt: p.prompt, arguments: p.arguments })),
  });
}
