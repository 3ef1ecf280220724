// The toolsets the benchmarks measure: a tenant of its own per toolset (so one
// deployment of exactly its tools), in staging mode, published.
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { Kysely } from "kysely";
import { ReleaseService } from "../../gen/releases/v1/releases_pb.js";
import { SourceService } from "../../gen/sources/v1/sources_pb.js";
import { EditingMode, ToolsetService } from "../../gen/toolsets/v1/toolsets_pb.js";
import type { Database } from "../../server/db/database.js";
import { createTenant, httpTool, urn, type Tenant } from "../../server/testing/fixtures.js";
import { bearer } from "../../server/testing/server.js";

/** Generated clients over Connect JSON on HTTP/1.1. */
export interface Clients {
  sources: Client<typeof SourceService>;
  toolsets: Client<typeof ToolsetService>;
  releases: Client<typeof ReleaseService>;
}

export function clientsOf(baseUrl: string): Clients {
  const transport = createConnectTransport({ baseUrl, httpVersion: "1.1" });
  return {
    sources: createClient(SourceService, transport),
    toolsets: createClient(ToolsetService, transport),
    releases: createClient(ReleaseService, transport),
  };
}

/** A published toolset of a tenant of its own. */
export interface Seeded {
  tenant: Tenant;
  project: string;
  slug: string;
  tools: number;
  auth: { headers: Record<string, string> };
  /** Edits the staging copy (a new description each time) so that the next publish has a change. */
  edit(clients: Clients): Promise<void>;
  publish(clients: Clients): Promise<{ etag: string; releaseNumber: bigint }>;
}

/** An input schema of realistic shape: a few typed, described properties. */
function inputSchema(i: number) {
  return {
    type: "object",
    properties: {
      id: { type: "string", description: `Identifier of the item ${i}` },
      limit: { type: "integer", minimum: 1, maximum: 100 },
      tags: { type: "array", items: { type: "string" } },
    },
    required: ["id"],
  };
}

/**
 * A toolset of `tools` HTTP tools (of a deployment of `deployed`, default as many) with `globalVariations` project-wide and
 * `toolsetVariations` toolset variations, switched to staging mode (release 1)
 * and published (release 2) with its variations (unless `publish` is false).
 */
export async function seedToolset(
  db: Kysely<Database>,
  clients: Clients,
  opts: { tools: number; deployed?: number; globalVariations: number; toolsetVariations: number; publish?: boolean },
): Promise<Seeded> {
  const tenant = await createTenant(db);
  const auth = bearer(tenant.producerKey);
  const project = tenant.project;
  const slug = "bench";
  const deployed = Array.from({ length: Math.max(opts.tools, opts.deployed ?? 0) }, (_, i) => `tool_${i}`);
  const names = deployed.slice(0, opts.tools);
  await clients.sources.createDeployment(
    {
      project,
      tools: deployed.map((n, i) => httpTool(n, { httpMethod: "POST", description: `Calls ${n} of the bench API`, inputSchema: inputSchema(i) })),
    },
    auth,
  );
  await clients.toolsets.createToolset({ project, name: "Bench", slug, toolUrns: names.map(urn) }, auth);
  for (const n of names.slice(0, opts.globalVariations)) {
    await clients.toolsets.upsertToolVariation({ project, scope: { global: true }, variation: { srcToolUrn: urn(n), title: `Global ${n}` } }, auth);
  }
  await clients.toolsets.switchEditingMode({ project, slug, mode: EditingMode.STAGING }, auth);
  for (const n of names.slice(0, opts.toolsetVariations)) {
    await clients.toolsets.upsertToolVariation(
      { project, scope: { toolsetSlug: slug, staging: true }, variation: { srcToolUrn: urn(n), confirm: true, confirmPrompt: `Really call ${n}?` } },
      auth,
    );
  }
  let edits = 0;
  const seeded: Seeded = {
    tenant,
    project,
    slug,
    tools: opts.tools,
    auth,
    async edit(c) {
      await c.toolsets.updateToolset(
        { project, slug, staging: true, fields: { description: `edit ${++edits}` }, updateMask: { paths: ["description"] } },
        auth,
      );
    },
    async publish(c) {
      const { release } = await c.releases.publishStagingVersion({ project, slug }, auth);
      return { etag: release!.etag, releaseNumber: release!.releaseNumber };
    },
  };
  if (opts.publish !== false) await seeded.publish(clients);
  return seeded;
}
