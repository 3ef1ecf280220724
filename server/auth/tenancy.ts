import type { Kysely } from "kysely";
import type { Database } from "../db/database.js";
import { findActiveApiKey, findOrganizationId, findProject } from "../model/tenants.js";
import type { ServedState } from "../serving/served-state.js";
import type { Caller } from "./caller.js";
import { hashApiKey } from "./keys.js";
import type { ProjectScope } from "./project.js";

// Estimated weights in the served state: small records.
const RECORD_BYTES = 512;

/**
 * Who a key is, which project a slug names, which organization a slug names:
 * answered from the served state at steady state (no database round trip), and
 * from the database on a miss. Unknown keys and slugs are not held, so a key or
 * project created a moment ago is found at once.
 */
export class Tenancy {
  constructor(
    readonly db: Kysely<Database>,
    private readonly served: ServedState,
  ) {}

  /** The caller a well-formed key stands for; undefined when unknown or revoked. */
  async caller(key: string): Promise<Caller | undefined> {
    const hash = hashApiKey(key);
    return this.served.get(`caller:${hash.toString("base64url")}`, async () => {
      const row = await findActiveApiKey(this.db, hash);
      if (!row) return { value: undefined, tags: { organizationId: "" }, bytes: 0, keep: false };
      const caller: Caller = {
        keyId: row.id,
        keyName: row.name,
        organizationId: row.organization_id,
        projectId: row.project_id,
        scope: row.scope,
      };
      return { value: caller, tags: { organizationId: row.organization_id, keyId: row.id }, bytes: RECORD_BYTES };
    });
  }

  /** A live project of an organization by slug. */
  async project(organizationId: string, slug: string): Promise<ProjectScope | undefined> {
    return this.served.get(`project:${organizationId}:${slug}`, async () => {
      const row = await findProject(this.db, organizationId, slug);
      if (!row) return { value: undefined, tags: { organizationId }, bytes: 0, keep: false };
      const project: ProjectScope = { id: row.id, slug: row.slug, organizationId: row.organization_id };
      // Tagged by organization only: project rows change with `project` notices, which
      // touch the organization; a deployment or an edit in the project leaves it.
      return { value: project, tags: { organizationId }, bytes: RECORD_BYTES };
    });
  }

  /** The id of a live organization by slug. */
  async organizationId(slug: string): Promise<string | undefined> {
    return this.served.get(`organization:${slug}`, async () => {
      const id = await findOrganizationId(this.db, slug);
      if (id === undefined) return { value: undefined, tags: { organizationId: "" }, bytes: 0, keep: false };
      return { value: id, tags: { organizationId: id }, bytes: RECORD_BYTES };
    });
  }
}
