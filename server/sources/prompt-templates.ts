import type { ServiceImpl } from "@connectrpc/connect";
import type { SourceService, UpsertPromptTemplateRequest } from "../../gen/sources/v1/sources_pb.js";
import type { ServiceContext } from "../context.js";
import { authorize } from "../auth/scope.js";
import { inTransaction } from "../db/transaction.js";
import { invalidArgument } from "../platform/errors.js";
import { LIMITS, promptName, text } from "../platform/validate.js";
import { jsonSchemaObject } from "./json-schema.js";
import { toPromptTemplate } from "./mapping.js";
import {
  findLatestRevision,
  insertRevision,
  listLatestRevisions,
  lockPromptTemplateName,
  type PromptTemplateContent,
} from "./prompt-template-queries.js";

type PromptTemplateMethods = Pick<ServiceImpl<typeof SourceService>, "upsertPromptTemplate" | "listPromptTemplates">;

/** Checks an UpsertPromptTemplate request; INVALID_ARGUMENT names the first bad field. */
export function validateUpsertPromptTemplate(req: UpsertPromptTemplateRequest): PromptTemplateContent {
  const name = promptName("name", req.name);
  const description = text("description", req.description, { max: LIMITS.description });
  const prompt = text("prompt", req.prompt, { max: LIMITS.prompt });
  // "64 KiB" is a size: multi-byte characters can pass the character count and still be larger.
  if (Buffer.byteLength(prompt, "utf8") > LIMITS.prompt) throw invalidArgument("prompt", `must be at most ${LIMITS.prompt} bytes as UTF-8`);
  // Unset = no arguments: stored as the empty object, the column's default.
  const args = req.arguments === undefined ? "{}" : jsonSchemaObject("arguments", req.arguments);
  return { name, description, prompt, arguments: args };
}

/** The prompt template RPCs of SourceService. */
export function promptTemplateMethods(context: ServiceContext): PromptTemplateMethods {
  const { db } = context;
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
      // One statement reads one snapshot: no explicit transaction needed.
      const rows = await listLatestRevisions(db, project.id);
      return { promptTemplates: rows.map(toPromptTemplate) };
    },
  };
}
