import { randomBytes } from "node:crypto";
import type { JsonObject } from "@bufbuild/protobuf";
import type { Kysely } from "kysely";
import type { Database } from "../db/database.js";
import { createApiKey } from "../auth/keys.js";
import { createOrganization, createProject, TOOLSET_STAGING } from "../auth/tenants.js";

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

/** The fields of a CreateDeployment tool that tests set. */
export interface ToolInit {
  source: string;
  name: string;
  httpMethod: string;
  path: string;
  description?: string;
  title?: string;
  tags?: string[];
  inputSchema?: JsonObject;
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

/** An HTTP tool of source "api" (URN `tools:http:api:<name>`) with a description naming it. */
export function httpTool(name: string, extra: Partial<ToolInit> = {}): ToolInit {
  return { source: "api", name, httpMethod: "GET", path: `/${name}`, description: `${name} from source`, ...extra };
}
