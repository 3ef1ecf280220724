import { sql, type Insertable, type Selectable, type Transaction } from "kysely";
import type { Database, Db, DeploymentsTable, HttpToolDefinitionRow, HttpToolDefinitionsTable } from "../db/database.js";
import { notFound } from "../platform/errors.js";

/** A deployment row as the sources queries read it. */
export type DeploymentRow = Pick<Selectable<DeploymentsTable>, "id" | "seq" | "created_at">;

/** A validated tool definition, ready to insert into a deployment; `input_schema` is serialized JSON. */
export type NewToolDefinition = Omit<Insertable<HttpToolDefinitionsTable>, "id" | "project_id" | "deployment_id" | "created_at">;

/** A deployment with its sorted tool URNs. */
export interface DeploymentWithUrns extends DeploymentRow {
  toolUrns: string[];
}

// 1000 rows x 17 columns stays well under PostgreSQL's 65535 bind parameters.
const INSERT_CHUNK = 1000;

// URNs are ASCII; byte order gives the same order on every database whatever its
// default collation, and matches JavaScript's sort.
const BY_URN = sql`tool_urn COLLATE "C"`;

/**
 * Locks the project row so deployments of one project are created one at a time
 * (seq allocation, idempotency check). FOR NO KEY UPDATE still serializes
 * deployments, but unlike FOR UPDATE it does not block the FOR KEY SHARE locks
 * that foreign-key checks take when other tables insert rows of this project.
 */
export async function lockProjectForDeployment(trx: Transaction<Database>, projectId: string): Promise<void> {
  const row = await trx
    .selectFrom("projects")
    .select("id")
    .where("id", "=", projectId)
    .where("deleted_at", "is", null)
    .forNoKeyUpdate()
    .executeTakeFirst();
  if (!row) throw notFound("project not found");
}

/** The deployment created earlier with this idempotency key, if any. */
export async function findDeploymentByIdempotencyKey(db: Db, projectId: string, key: string): Promise<DeploymentRow | undefined> {
  return db
    .selectFrom("deployments")
    .select(["id", "seq", "created_at"])
    .where("project_id", "=", projectId)
    .where("idempotency_key", "=", key)
    .executeTakeFirst();
}

/**
 * Inserts the project's next deployment (seq = previous max + 1). Call with the
 * project locked. Undefined when a deployment with the same idempotency key
 * already exists: the caller reads that one instead.
 */
export async function insertDeployment(
  trx: Transaction<Database>,
  projectId: string,
  idempotencyKey: string | undefined,
): Promise<DeploymentRow | undefined> {
  const { max } = await trx
    .selectFrom("deployments")
    .select(sql<bigint>`coalesce(max(seq), 0)`.as("max"))
    .where("project_id", "=", projectId)
    .executeTakeFirstOrThrow();
  return trx
    .insertInto("deployments")
    .values({ project_id: projectId, seq: max + 1n, idempotency_key: idempotencyKey ?? null })
    .onConflict((oc) => oc.columns(["project_id", "idempotency_key"]).where("idempotency_key", "is not", null).doNothing())
    .returning(["id", "seq", "created_at"])
    .executeTakeFirst();
}

/** Inserts a deployment's tool definitions in multi-row statements (never one per tool). */
export async function insertToolDefinitions(
  trx: Transaction<Database>,
  projectId: string,
  deploymentId: string,
  tools: readonly NewToolDefinition[],
): Promise<void> {
  for (let i = 0; i < tools.length; i += INSERT_CHUNK) {
    const rows = tools.slice(i, i + INSERT_CHUNK).map((t) => ({ ...t, project_id: projectId, deployment_id: deploymentId }));
    await trx.insertInto("http_tool_definitions").values(rows).execute();
  }
}

/** The project's active deployment: the one with the highest seq. */
export async function findActiveDeployment(db: Db, projectId: string): Promise<DeploymentRow | undefined> {
  return db
    .selectFrom("deployments")
    .select(["id", "seq", "created_at"])
    .where("project_id", "=", projectId)
    .orderBy("seq", "desc")
    .limit(1)
    .executeTakeFirst();
}

/** A deployment of the project by id; another project's deployment is not found either. */
export async function findDeployment(db: Db, projectId: string, id: string): Promise<DeploymentRow | undefined> {
  return db.selectFrom("deployments").select(["id", "seq", "created_at"]).where("project_id", "=", projectId).where("id", "=", id).executeTakeFirst();
}

/** A deployment's tool definitions, ordered by URN. */
export async function listToolDefinitions(db: Db, deploymentId: string): Promise<HttpToolDefinitionRow[]> {
  return db.selectFrom("http_tool_definitions").selectAll().where("deployment_id", "=", deploymentId).orderBy(BY_URN).execute();
}

/** One page of the project's deployments, newest first, starting below `beforeSeq`; fetches `limit` rows. */
export async function listDeploymentsPage(db: Db, projectId: string, beforeSeq: bigint | undefined, limit: number): Promise<DeploymentRow[]> {
  let q = db.selectFrom("deployments").select(["id", "seq", "created_at"]).where("project_id", "=", projectId);
  if (beforeSeq !== undefined) q = q.where("seq", "<", beforeSeq);
  return q.orderBy("seq", "desc").limit(limit).execute();
}

/** The sorted tool URNs of each deployment, in one aggregate query. */
export async function toolUrnsByDeployment(db: Db, deploymentIds: readonly string[]): Promise<Map<string, string[]>> {
  const result = new Map<string, string[]>();
  if (deploymentIds.length === 0) return result;
  const rows = await db
    .selectFrom("http_tool_definitions")
    .select(["deployment_id", sql<string[]>`array_agg(tool_urn ORDER BY ${BY_URN})`.as("urns")])
    .where("deployment_id", "in", deploymentIds)
    .groupBy("deployment_id")
    .execute();
  for (const row of rows) result.set(row.deployment_id, row.urns);
  return result;
}

/** Attaches tool URNs to deployment rows (a deployment without tools gets an empty list). */
export async function withToolUrns(db: Db, rows: readonly DeploymentRow[]): Promise<DeploymentWithUrns[]> {
  const urns = await toolUrnsByDeployment(
    db,
    rows.map((r) => r.id),
  );
  return rows.map((r) => ({ ...r, toolUrns: urns.get(r.id) ?? [] }));
}
