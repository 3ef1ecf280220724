import type { Kysely } from "kysely";
import type { Database } from "./db/database.js";
import { createApiKey } from "./auth/keys.js";
import { createOrganization, createProject, TOOLSET_STAGING } from "./auth/tenants.js";
import { findOrganizationId } from "./model/tenants.js";

/** What the first start of a local instance created. */
export interface DevSeed {
  org: string;
  project: string;
  key: string;
}

/**
 * On the first start of a local (embedded) instance: organization `dev` with
 * toolset staging, project `default` and a producer key. Returns undefined when
 * `dev` already exists, so the key is shown once only.
 */
export async function seedDev(db: Kysely<Database>): Promise<DevSeed | undefined> {
  return db.transaction().execute(async (trx) => {
    if ((await findOrganizationId(trx, "dev")) !== undefined) return undefined;
    await createOrganization(trx, { slug: "dev", name: "Development", features: [TOOLSET_STAGING] });
    await createProject(trx, { org: "dev", slug: "default", name: "Default project" });
    const key = await createApiKey(trx, { org: "dev", scope: "producer", name: "dev-producer" });
    return { org: "dev", project: "default", key: key.key };
  });
}

/** The banner printed once with the new key and commands to paste (and where the console is, when it is served). */
export function devSeedBanner(seed: DevSeed, baseUrl: string, consoleUrl?: string): string {
  const hostPort = baseUrl.replace(/^https?:\/\//, "");
  return [
    "",
    "First start: created organization 'dev' (feature toolset_staging), project 'default' and a producer key.",
    "The key is shown this once; store it now:",
    "",
    `  export TSR_KEY=${seed.key}`,
    "",
    "Try it:",
    `  grpcurl -plaintext -H "authorization: Bearer $TSR_KEY" -d '{"project":"default"}' ${hostPort} toolsets.v1.ToolsetService/ListToolsets`,
    `  npx buf curl --protocol grpc --http2-prior-knowledge -H "authorization: Bearer $TSR_KEY" -d '{"project":"default"}' ${baseUrl}/toolsets.v1.ToolsetService/ListToolsets`,
    `  curl -sS -H "authorization: Bearer $TSR_KEY" -H 'content-type: application/json' -d '{"project":"default"}' ${baseUrl}/toolsets.v1.ToolsetService/ListToolsets`,
    ...(consoleUrl === undefined ? [] : ["", `Or open the console at ${consoleUrl} and sign in with the key.`]),
    "",
  ].join("\n");
}
