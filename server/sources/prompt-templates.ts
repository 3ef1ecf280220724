import type { ServiceImpl } from "@connectrpc/connect";
import type { SourceService } from "../../gen/sources/v1/sources_pb.js";
import type { ServiceContext } from "../context.js";
import { authorize } from "../auth/scope.js";
import { inTransaction } from "../db/transaction.js";
import { findLatestRevision, insertRevision, listLatestRevisions, lockPromptTemplateName } from "../model/prompt-templates.js";
import { pageRequest, readPage, TEXT_KEY } from "../platform/pagination.js";
import { toPromptTemplate } from "./mapping.js";
import { validateUpsertPromptTemplate } from "./prompt-template-input.js";

type PromptTemplateMethods = Pick<ServiceImpl<typeof SourceService>, "upsertPromptTemplate" | "listPromptTemplates">;

/** The prompt template RPCs of SourceService. */
export function promptTemplateMethods({ db, tenancy }: ServiceContext): PromptTemplateMethods {
  return {
    async upsertPromptTemplate(req, ctx) {
      const { project } = await authorize(tenancy, ctx, req.project);
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
      const { project } = await authorize(tenancy, ctx, req.project);
      const page = pageRequest(req);
      // One statement reads one snapshot: no explicit transaction needed.
      const { items, nextPageToken } = await readPage(
        page,
        `ListPromptTemplates:${project.id}`,
        TEXT_KEY,
        (after, limit) => listLatestRevisions(db, project.id, after, limit),
        (r) => r.name,
      );
      return { promptTemplates: items.map(toPromptTemplate), nextPageToken };
    },
  };
}
