import type { ApiKeyScope, Db, NewApiKey, ProjectRow } from "../db/database.js";

// Organizations, projects and API keys: the queries behind authentication,
// tenancy checks and the admin commands. Rules (slug shapes, known features, key
// formats) stay with their callers in auth/.

/** An active API key of a live organization, found by the hash of the key. */
export async function findActiveApiKey(
  db: Db,
  keyHash: Buffer,
): Promise<{ id: string; name: string; organization_id: string; project_id: string | null; scope: ApiKeyScope } | undefined> {
  return db
    .selectFrom("api_keys")
    .innerJoin("organizations", "organizations.id", "api_keys.organization_id")
    .select(["api_keys.id", "api_keys.name", "api_keys.organization_id", "api_keys.project_id", "api_keys.scope"])
    .where("api_keys.key_hash", "=", keyHash)
    .where("api_keys.revoked_at", "is", null)
    .where("organizations.deleted_at", "is", null)
    .executeTakeFirst();
}

/** A live project of an organization by slug. */
export async function findProject(
  db: Db,
  organizationId: string,
  slug: string,
): Promise<{ id: string; slug: string; organization_id: string } | undefined> {
  return db
    .selectFrom("projects")
    .select(["id", "slug", "organization_id"])
    .where("organization_id", "=", organizationId)
    .where("slug", "=", slug)
    .where("deleted_at", "is", null)
    .executeTakeFirst();
}

/** The id of a live organization by slug. */
export async function findOrganizationId(db: Db, slug: string): Promise<string | undefined> {
  const row = await db.selectFrom("organizations").select("id").where("slug", "=", slug).where("deleted_at", "is", null).executeTakeFirst();
  return row?.id;
}

/** The features an organization has been given. */
export async function organizationFeatures(db: Db, organizationId: string): Promise<string[]> {
  const org = await db.selectFrom("organizations").select("features").where("id", "=", organizationId).executeTakeFirstOrThrow();
  return org.features;
}

/** Inserts an organization; undefined when a live one has the slug. */
export async function insertOrganization(
  db: Db,
  org: { slug: string; name: string; features: string[] },
): Promise<{ id: string; slug: string } | undefined> {
  return db
    .insertInto("organizations")
    .values(org)
    .onConflict((oc) => oc.column("slug").where("deleted_at", "is", null).doNothing())
    .returning(["id", "slug"])
    .executeTakeFirst();
}

/** Inserts a project; undefined when a live one of the organization has the slug. */
export async function insertProject(
  db: Db,
  project: { organization_id: string; slug: string; name: string },
): Promise<{ id: string; slug: string } | undefined> {
  return db
    .insertInto("projects")
    .values(project)
    .onConflict((oc) => oc.columns(["organization_id", "slug"]).where("deleted_at", "is", null).doNothing())
    .returning(["id", "slug"])
    .executeTakeFirst();
}

/** Inserts an API key (only its hash); returns its id. */
export async function insertApiKey(db: Db, key: NewApiKey): Promise<string> {
  const row = await db.insertInto("api_keys").values(key).returning("id").executeTakeFirstOrThrow();
  return row.id;
}

/** Revokes the active key of that name in a live organization; false when there is none. */
export async function revokeApiKeyByName(db: Db, org: string, name: string): Promise<boolean> {
  const res = await db
    .updateTable("api_keys")
    .set({ revoked_at: new Date() })
    .where("name", "=", name)
    .where("revoked_at", "is", null)
    .where("organization_id", "=", (eb) => eb.selectFrom("organizations").select("id").where("slug", "=", org).where("deleted_at", "is", null))
    .executeTakeFirst();
  return res.numUpdatedRows > 0n;
}

/** A live organization's slug and name by id. */
export async function findOrganization(db: Db, organizationId: string): Promise<{ slug: string; name: string } | undefined> {
  return db.selectFrom("organizations").select(["slug", "name"]).where("id", "=", organizationId).where("deleted_at", "is", null).executeTakeFirst();
}

/** The slug of a project by id, deleted or not (a key stays bound to its project). */
export async function projectSlugById(db: Db, organizationId: string, projectId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom("projects")
    .select("slug")
    .where("organization_id", "=", organizationId)
    .where("id", "=", projectId)
    .executeTakeFirst();
  return row?.slug;
}

/**
 * One keyset page of an organization's live projects by slug, after
 * `afterSlug`; only `onlyProjectId` when set (a project-bound key).
 */
export async function listLiveProjects(
  db: Db,
  organizationId: string,
  onlyProjectId: string | null,
  afterSlug: string | undefined,
  limit: number,
): Promise<ProjectRow[]> {
  return db
    .selectFrom("projects")
    .selectAll()
    .where("organization_id", "=", organizationId)
    .where("deleted_at", "is", null)
    .$if(onlyProjectId !== null, (q) => q.where("id", "=", onlyProjectId ?? ""))
    .$if(afterSlug !== undefined, (q) => q.where("slug", ">", afterSlug ?? ""))
    .orderBy("slug")
    .limit(limit)
    .execute();
}
