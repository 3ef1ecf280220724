import { sql, type Insertable, type Transaction } from "kysely";
import type { Database, Db, PromptTemplateRow, PromptTemplatesTable } from "../db/database.js";

/** The content of a new revision. */
export interface PromptTemplateContent {
  name: string;
  description: string;
  prompt: string;
  /** Serialized JSON object. */
  arguments: string;
}

/**
 * Serializes writers of one (project, name) until the transaction ends. A row
 * lock on the latest revision would not cover the first revision, which has no
 * row to lock yet; an advisory lock on the name does.
 */
export async function lockPromptTemplateName(trx: Transaction<Database>, projectId: string, name: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`prompt_templates:${projectId}:${name}`}, 0))`.execute(trx);
}

/** The newest revision of a name (deleted or not), if any. */
export async function findLatestRevision(db: Db, projectId: string, name: string): Promise<PromptTemplateRow | undefined> {
  return db
    .selectFrom("prompt_templates")
    .selectAll()
    .where("project_id", "=", projectId)
    .where("name", "=", name)
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .limit(1)
    .executeTakeFirst();
}

/**
 * Writes a new revision after `previous` (undefined = the first of a new
 * history). Call with the name locked.
 */
export async function insertRevision(
  trx: Transaction<Database>,
  projectId: string,
  content: PromptTemplateContent,
  previous: PromptTemplateRow | undefined,
): Promise<PromptTemplateRow> {
  let row: Insertable<PromptTemplatesTable>;
  if (previous === undefined) {
    // A first revision is its own history, so its id must be known before the
    // insert: rows are immutable, an update afterwards is not an option.
    const { id } = await sql<{ id: string }>`SELECT generate_uuidv7() AS id`.execute(trx).then((r) => r.rows[0]!);
    row = { ...content, id, project_id: projectId, history_id: id, predecessor_id: null };
  } else {
    row = { ...content, project_id: projectId, history_id: previous.history_id, predecessor_id: previous.id };
  }
  return trx.insertInto("prompt_templates").values(row).returningAll().executeTakeFirstOrThrow();
}

/**
 * The query for the latest revision of each of the project's prompt templates
 * that is not deleted, ordered by name; `names` narrows it to those names. The
 * one definition of "latest", shared by listings and resolution.
 */
export function latestRevisionsQuery(db: Db, projectId: string, names?: readonly string[], afterName?: string) {
  // Pick the latest revision first and drop deleted ones after: filtering first
  // would bring back an older revision of a template whose latest one was deleted.
  return (
    db
      .selectFrom((eb) =>
        eb
          .selectFrom("prompt_templates")
          .selectAll()
          .distinctOn("name")
          .where("project_id", "=", projectId)
          .$if(names !== undefined, (qb) => qb.where(sql<boolean>`name = ANY(${names ?? []}::text[])`))
          .$if(afterName !== undefined, (qb) => qb.where(sql<boolean>`name COLLATE "C" > ${afterName}`))
          .orderBy("name")
          .orderBy("created_at", "desc")
          .orderBy("id", "desc")
          .as("latest"),
      )
      .selectAll()
      .where("deleted_at", "is", null)
      // Byte order: the same on every database whatever its default collation.
      .orderBy(sql`name COLLATE "C"`)
  );
}

/** One page of the latest revision of each of the project's prompt templates that is not deleted, by name after `afterName`. */
export async function listLatestRevisions(db: Db, projectId: string, afterName: string | undefined, limit: number): Promise<PromptTemplateRow[]> {
  return latestRevisionsQuery(db, projectId, undefined, afterName).limit(limit).execute();
}
