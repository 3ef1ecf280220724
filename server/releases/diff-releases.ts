import type { ServiceImpl } from "@connectrpc/connect";
import type { ReleaseService } from "../../gen/releases/v1/releases_pb.js";
import type { ServiceContext } from "../context.js";
import { authorize } from "../auth/scope.js";
import { snapshot } from "../db/transaction.js";
import type { Database, ToolsetRow } from "../db/database.js";
import { findLiveToolset } from "../model/toolsets.js";
import { slug as checkSlug } from "../platform/validate.js";
import { resolveContent, rowSelection } from "../resolve/resolve.js";
import { targetState, type TargetRef } from "../resolve/targets.js";
import { diffResolved, type DiffSide } from "./diff.js";
import { parseRef } from "./release-input.js";
import type { Transaction } from "kysely";

/** DiffReleases. */
export function diffMethod({ db, tenancy }: ServiceContext): Pick<ServiceImpl<typeof ReleaseService>, "diffReleases"> {
  return {
    async diffReleases(req, ctx) {
      const { project } = await authorize(tenancy, ctx, req.project);
      const slug = checkSlug("slug", req.slug);
      const from = parseRef("from", req.from);
      const to = parseRef("to", req.to);
      // Both sides from one snapshot, so they are states that existed together.
      const changes = await snapshot(db, async (trx) => {
        const live = await findLiveToolset(trx, project.id, slug);
        return diffResolved(await side(trx, live, from), await side(trx, live, to));
      });
      return { changes };
    },
  };
}

async function side(trx: Transaction<Database>, live: ToolsetRow, ref: TargetRef): Promise<DiffSide> {
  const { state, pins } = await targetState(trx, live, ref);
  const content = await resolveContent(trx, live.project_id, rowSelection(state), pins);
  return {
    metadata: {
      name: state.name,
      description: state.description,
      mcpSlug: state.mcp_slug ?? "",
      mcpEnabled: state.mcp_enabled,
      mcpIsPublic: state.mcp_is_public,
    },
    tools: content.tools,
    prompts: content.prompts.map(({ id: _id, ...prompt }) => prompt),
  };
}
