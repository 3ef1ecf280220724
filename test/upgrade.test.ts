import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { ReleaseService } from "../gen/releases/v1/releases_pb.js";
import { EditingMode, ToolsetService } from "../gen/toolsets/v1/toolsets_pb.js";
import { createApiKey } from "../server/auth/keys.js";
import { migrate } from "../server/db/migrator.js";
import { createEmptyDatabase } from "../server/testing/database.js";
import { bearer } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";

// A database that lived at migration 1 with real data, then upgraded: existing
// toolsets keep working in iteration mode through the API.
const { database, server } = useTestServer({ database: createEmptyDatabase, prepare: seedAtMigration1ThenUpgrade });
let key: string;

async function sql<T extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: database.url });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}

async function seedAtMigration1ThenUpgrade(): Promise<void> {
  await migrate(database.url, { upTo: "0001" });
  const [org] = await sql<{ id: string }>(
    "INSERT INTO organizations (slug, name, features) VALUES ('acme', 'Acme', '{toolset_staging}') RETURNING id",
  );
  const [project] = await sql<{ id: string }>("INSERT INTO projects (organization_id, slug, name) VALUES ($1, 'web', 'Web') RETURNING id", [org!.id]);
  const [deployment] = await sql<{ id: string }>("INSERT INTO deployments (project_id, seq) VALUES ($1, 1) RETURNING id", [project!.id]);
  await sql(
    `INSERT INTO http_tool_definitions (project_id, deployment_id, tool_urn, source, name, http_method, path, description)
     VALUES ($1, $2, 'tools:http:petstore:get_pet', 'petstore', 'get_pet', 'GET', '/pets/{id}', 'Get a pet')`,
    [project!.id, deployment!.id],
  );
  const [fresh] = await sql<{ id: string }>(
    "INSERT INTO toolsets (project_id, slug, name, tool_urns) VALUES ($1, 'fresh', 'Fresh', '{tools:http:petstore:get_pet}') RETURNING id",
    [project!.id],
  );
  const [old] = await sql<{ id: string }>(
    "INSERT INTO toolsets (project_id, slug, name, tool_urns) VALUES ($1, 'old', 'Old', '{tools:http:petstore:get_pet}') RETURNING id",
    [project!.id],
  );
  // The old toolset already had two snapshots before the feature.
  const [v1] = await sql<{ id: string }>("INSERT INTO toolset_versions (toolset_id, version, tool_urns) VALUES ($1, 1, '{}') RETURNING id", [
    old!.id,
  ]);
  await sql("INSERT INTO toolset_versions (toolset_id, version, tool_urns, predecessor_id) VALUES ($1, 2, '{tools:http:petstore:get_pet}', $2)", [
    old!.id,
    v1!.id,
  ]);
  const [group] = await sql<{ id: string }>("INSERT INTO tool_variations_groups (project_id, name) VALUES ($1, 'global') RETURNING id", [
    project!.id,
  ]);
  await sql("INSERT INTO project_tool_variations (project_id, group_id) VALUES ($1, $2)", [project!.id, group!.id]);
  await sql("INSERT INTO tool_variations (group_id, src_tool_urn, description) VALUES ($1, 'tools:http:petstore:get_pet', 'Find a pet')", [
    group!.id,
  ]);
  void fresh;

  await migrate(database.url);
}

beforeAll(async () => {
  key = (await createApiKey(server.db, { org: "acme", scope: "producer" })).key;
});

describe("upgrade from migration 1", () => {
  it("a toolset without snapshots comes out at version 1 with a snapshot of its state", async () => {
    const { toolset } = await server.client(ToolsetService).getToolset({ project: "web", slug: "fresh" }, bearer(key));
    expect(toolset?.version).toBe(1n);
    const snapshots = await sql<{ version: string; name: string; tool_urns: string[] }>(
      "SELECT version::text, name, tool_urns FROM toolset_versions WHERE toolset_id = $1",
      [toolset!.id],
    );
    expect(snapshots).toEqual([{ version: "1", name: "Fresh", tool_urns: ["tools:http:petstore:get_pet"] }]);
  });

  it("a toolset with earlier snapshots continues after them and can be updated", async () => {
    const client = server.client(ToolsetService);
    const { toolset } = await client.getToolset({ project: "web", slug: "old" }, bearer(key));
    expect(toolset?.version).toBe(3n);
    const updated = await client.updateToolset(
      { project: "web", slug: "old", fields: { description: "now with a description" }, updateMask: { paths: ["description"] }, expectedVersion: 3n },
      bearer(key),
    );
    expect(updated.toolset?.version).toBe(4n);
    const chain = await sql<{ version: string; predecessor_version: string | null }>(
      `SELECT v.version::text, p.version::text AS predecessor_version
       FROM toolset_versions v LEFT JOIN toolset_versions p ON p.id = v.predecessor_id
       WHERE v.toolset_id = $1 ORDER BY v.version`,
      [toolset!.id],
    );
    expect(chain).toEqual([
      { version: "1", predecessor_version: null },
      { version: "2", predecessor_version: "1" },
      { version: "3", predecessor_version: "2" },
      { version: "4", predecessor_version: "3" },
    ]);
  });

  it("existing toolsets keep being served in iteration mode with their variations", async () => {
    const { resolved } = await server.client(ReleaseService).resolveToolset({ project: "web", slug: "fresh" }, bearer(key));
    expect(resolved?.tools.map((t) => [t.urn, t.description])).toEqual([["tools:http:petstore:get_pet", "Find a pet"]]);
  });

  it("a toolset from migration 1 switches to staging without a change to what it serves, and publishes", async () => {
    const toolsets = server.client(ToolsetService);
    const releases = server.client(ReleaseService);
    const before = await releases.resolveToolset({ project: "web", slug: "fresh" }, bearer(key));
    const { toolset } = await toolsets.switchEditingMode({ project: "web", slug: "fresh", mode: EditingMode.STAGING }, bearer(key));
    expect(toolset?.currentReleaseNumber).toBe(1n);
    const pinned = await releases.resolveToolset({ project: "web", slug: "fresh" }, bearer(key));
    expect(pinned.resolved?.etag).toBe(before.resolved?.etag);
    expect(pinned.resolved?.tools.map((t) => t.description)).toEqual(["Find a pet"]);

    // The variation written before the feature is pinned by release 1; a new
    // version of it reaches live only with a publish.
    await toolsets.upsertToolVariation(
      { project: "web", scope: { global: true }, variation: { srcToolUrn: "tools:http:petstore:get_pet", description: "Find one pet" } },
      bearer(key),
    );
    await toolsets.updateToolset(
      { project: "web", slug: "fresh", staging: true, fields: { name: "Fresh 2" }, updateMask: { paths: ["name"] } },
      bearer(key),
    );
    expect((await releases.resolveToolset({ project: "web", slug: "fresh" }, bearer(key))).resolved?.etag).toBe(before.resolved?.etag);
    const { release } = await releases.publishStagingVersion(
      { project: "web", slug: "fresh", notes: "first publish after the upgrade" },
      bearer(key),
    );
    expect(release?.releaseNumber).toBe(2n);
    const live = await releases.resolveToolset({ project: "web", slug: "fresh" }, bearer(key));
    expect(live.resolved?.name).toBe("Fresh 2");
    expect(live.resolved?.tools.map((t) => t.description)).toEqual(["Find one pet"]);
    expect(live.resolved?.releaseNumber).toBe(2n);
  });
});
