import type { ServiceImpl } from "@connectrpc/connect";
import type { SourceService } from "../../gen/sources/v1/sources_pb.js";
import type { ServiceContext } from "../context.js";
import { authorize } from "../auth/scope.js";
import { inTransaction } from "../db/transaction.js";
import { findLatestRevision, insertRevision, listLatestRevisions, lockPromptTemplateName } from "../model/prompt-templates.js";
import { decodePageKey, paginate, TEXT_KEY } from "../platform/pagination.js";
import { pageSize } from "../platform/validate.js";
import { toPromptTemplate } from "./mapping.js";
import { validateUpsertPromptTemplate } from "./prompt-template-input.js";

type PromptTemplateMethods = Pick<ServiceImpl<typeof SourceService>, "upsertPromptTemplate" | "listPromptTemplates">;

/** The prompt template RPCs of SourceService. */
export function promptTemplateMethods({ db }: ServiceContext): PromptTemplateMethods {
  return {
    async upsertPromptTemplate(req, ctx) {
      const { project } = await authorize(db, ctx, req.project);
      const content = validateUpsertPromptTemplate(req);
      const row = await inTransaction(db, async (trx) => {
        await lockPromptTemplateName(trx, project.id, content.name);
        const latest = await findLatestRevision(trx, project.id, content.name);
        // A deleted template that is written again starts a new history.
        const previous = latest?.deleted_at === null ? latest : undefined;
        return insertRevision(trx, project.id, content, previous);
      });
      return { promptTemplate: toPromptTemplate(row) };
    },

    async listPromptTemplates(req, ctx) {
      const { project } = await authorize(db, ctx, req.project);
      const size = pageSize(req.pageSize);
      const scope = `ListPromptTemplates:${project.id}`;
      const afterName = decodePageKey(scope, req.pageToken, TEXT_KEY);
      // One statement reads one snapshot: no explicit transaction needed.
      const rows = await listLatestRevisions(db, project.id, afterName, size + 1);
      const { items, nextPageToken } = paginate(rows, size, scope, (r) => [r.name]);
      return { promptTemplates: items.map(toPromptTemplate), nextPageToken };
    },
  };
}
