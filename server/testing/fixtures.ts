import { randomBytes } from "node:crypto";
import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import type { Kysely } from "kysely";
import type { HttpToolDefinitionSchema } from "../../gen/sources/v1/sources_pb.js";
import type { Database } from "../db/database.js";
import { createApiKey } from "../auth/keys.js";
import { createOrganization, createProject, TOOLSET_STAGING } from "../auth/tenants.js";
import { findOrganizationId, findProject } from "../model/tenants.js";

/** An organization with one project and keys of each kind. */
export interface Tenant {
  org: string;
  project: string;
  producerKey: string;
  consumerKey: string;
}

/** A unique slug for test data. */
export function uniqueSlug(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}

/** Creates a tenant with random slugs; `features` defaults to toolset staging on. */
export async function createTenant(db: Kysely<Database>, opts: { features?: string[] } = {}): Promise<Tenant> {
  const org = uniqueSlug("org");
  const project = uniqueSlug("proj");
  await createOrganization(db, { slug: org, features: opts.features ?? [TOOLSET_STAGING] });
  await createProject(db, { org, slug: project });
  const producer = await createApiKey(db, { org, scope: "producer" });
  const consumer = await createApiKey(db, { org, scope: "consumer" });
  return { org, project, producerKey: producer.key, consumerKey: consumer.key };
}

/** The init object of a message, without the message form protobuf-es also accepts (so `Partial` and `Omit` work on it). */
export type InitObject<Desc extends DescMessage> = Exclude<MessageInitShape<Desc>, { $typeName: string }>;

/** A tool of a CreateDeployment request, as a test writes it. */
export type ToolInit = InitObject<typeof HttpToolDefinitionSchema>;

/** An HTTP tool of source "api" (URN `tools:http:api:<name>`) with a description naming it. */
export function httpTool(name: string, extra: Partial<ToolInit> = {}): ToolInit {
  return { source: "api", name, httpMethod: "GET", path: `/${name}`, description: `${name} from source`, ...extra };
}

/** The URN of the tool `httpTool(name)` makes: `tools:http:api:<name>`. */
export function urn(name: string): string {
  return `tools:http:api:${name}`;
}

/** The id of the tenant's project. */
export async function projectId(db: Kysely<Database>, tenant: Pick<Tenant, "org" | "project">): Promise<string> {
  const org = await findOrganizationId(db, tenant.org);
  const project = org === undefined ? undefined : await findProject(db, org, tenant.project);
  if (project === undefined) throw new Error(`no project ${tenant.org}/${tenant.project}`);
  return project.id;
}
