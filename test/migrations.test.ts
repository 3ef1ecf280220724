import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { MIGRATIONS_DIR, migrate, readMigrations } from "../server/db/migrator.js";
import { createEmptyDatabase, type TestDatabase } from "../server/testing/database.js";

const dbs: TestDatabase[] = [];
const tempDirs: string[] = [];
afterEach(async () => {
  await Promise.all([...dbs.splice(0).map((d) => d.drop()), ...tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true }))]);
});

/** A temporary copy of the migrations directory, removed after the test. */
async function migrationsCopy(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "tsr-migrations-"));
  tempDirs.push(dir);
  await cp(MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

async function emptyDb(): Promise<TestDatabase> {
  const d = await createEmptyDatabase();
  dbs.push(d);
  return d;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

describe("migrations", () => {
  it("apply to an empty database, and a second run is a no-op", async () => {
    const d = await emptyDb();
    const all = (await readMigrations()).map((m) => m.name);
    expect(all.length).toBeGreaterThanOrEqual(3);
    const first = await migrate(d.url);
    expect(first.applied).toEqual(all);
    const tables = await query<{ table_name: string }>(d.url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'");
    const names = tables.map((t) => t.table_name);
    for (const t of [
      "organizations",
      "projects",
      "api_keys",
      "toolsets",
      "toolset_releases",
      "toolset_release_events",
      "source_states",
      "system_source_states",
      "tool_variations_group_versions",
    ]) {
      expect(names).toContain(t);
    }
    const second = await migrate(d.url);
    expect(second.applied).toEqual([]);
    expect(second.skipped).toEqual(all);
    const recorded = await query<{ n: string }>(d.url, "SELECT count(*) AS n FROM schema_migrations");
    expect(Number(recorded[0]?.n)).toBe(all.length);
  });

  it("concurrent runs apply each migration once", async () => {
    const d = await emptyDb();
    const results = await Promise.all([migrate(d.url), migrate(d.url), migrate(d.url)]);
    const applied = results.flatMap((r) => r.applied);
    expect(applied.sort()).toEqual((await readMigrations()).map((m) => m.name).sort());
  });

  it("upgrading keeps data: a toolset from migration 1 comes out in iteration mode at version 1", async () => {
    const d = await emptyDb();
    const first = await migrate(d.url, { upTo: "0001" });
    expect(first.applied).toEqual(["0001_pre_feature"]);
    const [org] = await query<{ id: string }>(d.url, "INSERT INTO organizations (slug, name) VALUES ('acme', 'Acme') RETURNING id");
    const [project] = await query<{ id: string }>(
      d.url,
      "INSERT INTO projects (organization_id, slug, name) VALUES ($1, 'web', 'Web') RETURNING id",
      [org!.id],
    );
    const [toolset] = await query<{ id: string }>(
      d.url,
      "INSERT INTO toolsets (project_id, slug, name, tool_urns) VALUES ($1, 'pets', 'Pets', '{tools:http:petstore:get_pet}') RETURNING id",
      [project!.id],
    );
    const [group] = await query<{ id: string }>(d.url, "INSERT INTO tool_variations_groups (project_id, name) VALUES ($1, 'global') RETURNING id", [
      project!.id,
    ]);
    await query(d.url, "INSERT INTO project_tool_variations (project_id, group_id) VALUES ($1, $2)", [project!.id, group!.id]);
    // Pre-feature variations were edited in place and could be deleted and created again.
    const [deleted] = await query<{ id: string }>(
      d.url,
      "INSERT INTO tool_variations (group_id, src_tool_urn, description, deleted_at) VALUES ($1, 'tools:http:petstore:get_pet', 'Old', now()) RETURNING id",
      [group!.id],
    );
    const [variation] = await query<{ id: string }>(
      d.url,
      "INSERT INTO tool_variations (group_id, src_tool_urn, description) VALUES ($1, 'tools:http:petstore:get_pet', 'Find a pet') RETURNING id",
      [group!.id],
    );

    const rest = await migrate(d.url);
    expect(rest.applied).not.toContain("0001_pre_feature");
    expect(rest.applied.length).toBeGreaterThanOrEqual(2);

    const [after] = await query<{
      editing_mode: string;
      version: string;
      history_id: string;
      slug: string;
      tool_urns: string[];
      current_release_id: string | null;
    }>(d.url, "SELECT editing_mode, version::text, history_id, slug, tool_urns, current_release_id FROM toolsets WHERE id = $1", [toolset!.id]);
    expect(after).toEqual({
      editing_mode: "iteration",
      version: "1",
      history_id: toolset!.id,
      slug: "pets",
      tool_urns: ["tools:http:petstore:get_pet"],
      current_release_id: null,
    });
    const versions = await query<{ id: string; version: string; predecessor_id: string | null }>(
      d.url,
      "SELECT id, version::text, predecessor_id FROM tool_variations WHERE group_id = $1 ORDER BY version",
      [group!.id],
    );
    expect(versions).toEqual([
      { id: deleted!.id, version: "1", predecessor_id: null },
      { id: variation!.id, version: "2", predecessor_id: deleted!.id },
    ]);
    const [groupVersion] = await query<{ variation_ids: string[]; version: string }>(
      d.url,
      "SELECT gv.variation_ids, gv.version::text FROM tool_variations_groups g JOIN tool_variations_group_versions gv ON gv.id = g.current_version_id WHERE g.id = $1",
      [group!.id],
    );
    expect(groupVersion).toEqual({ variation_ids: [variation!.id], version: "1" });
  });

  it("a concurrent index build that failed half-way is rebuilt on the next run", async () => {
    const d = await emptyDb();
    await migrate(d.url, { upTo: "0002" });
    const [org] = await query<{ id: string }>(d.url, "INSERT INTO organizations (slug, name) VALUES ('acme', 'Acme') RETURNING id");
    const [project] = await query<{ id: string }>(
      d.url,
      "INSERT INTO projects (organization_id, slug, name) VALUES ($1, 'web', 'Web') RETURNING id",
      [org!.id],
    );
    for (const slug of ["a", "b"]) {
      await query(d.url, "INSERT INTO toolsets (project_id, slug, name, history_id) VALUES ($1, $2, 'Same', generate_uuidv7())", [project!.id, slug]);
    }
    // A failed CREATE UNIQUE INDEX CONCURRENTLY leaves an INVALID index under the
    // name migration 3 uses; IF NOT EXISTS alone would skip it.
    await expect(query(d.url, "CREATE UNIQUE INDEX CONCURRENTLY toolsets_project_live_slug_key ON toolsets (name)")).rejects.toThrow();
    const invalid = await query(d.url, "SELECT 1 FROM pg_index WHERE NOT indisvalid AND indexrelid = 'toolsets_project_live_slug_key'::regclass");
    expect(invalid).toHaveLength(1);

    await migrate(d.url);
    const [index] = await query<{ valid: boolean; def: string }>(
      d.url,
      "SELECT i.indisvalid AS valid, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i WHERE i.indexrelid = 'toolsets_project_live_slug_key'::regclass",
    );
    expect(index?.valid).toBe(true);
    expect(index?.def).toContain("(project_id, slug)");
  });

  it("generate_uuidv7 makes version-7 ids in time order", async () => {
    const d = await emptyDb();
    await migrate(d.url, { upTo: "0001" });
    const rows = await query<{ id: string }>(d.url, "SELECT generate_uuidv7()::text AS id FROM generate_series(1, 50) ORDER BY 1");
    for (const { id } of rows) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(rows.map((r) => r.id)).size).toBe(50);
    const a = await query<{ id: string }>(d.url, "SELECT generate_uuidv7()::text AS id");
    await new Promise((r) => setTimeout(r, 5));
    const b = await query<{ id: string }>(d.url, "SELECT generate_uuidv7()::text AS id");
    expect(a[0]!.id < b[0]!.id).toBe(true);
  });

  it("refuses to run when an applied migration was edited", async () => {
    const d = await emptyDb();
    const dir = await migrationsCopy();
    await migrate(d.url, { dir });
    await writeFile(join(dir, "0001_pre_feature.sql"), "-- edited\nSELECT 1;\n", { flag: "a" });
    await expect(migrate(d.url, { dir })).rejects.toThrow(/0001_pre_feature was changed after it was applied/);
  });

  it("a failing transactional migration leaves no trace", async () => {
    const d = await emptyDb();
    const dir = await migrationsCopy();
    await writeFile(join(dir, "9999_broken.sql"), "CREATE TABLE half_done (id int);\nSELECT 1/0;\n");
    await expect(migrate(d.url, { dir })).rejects.toThrow(/9999_broken failed/);
    const t = await query(d.url, "SELECT 1 FROM information_schema.tables WHERE table_name = 'half_done'");
    expect(t).toEqual([]);
    const recorded = await query(d.url, "SELECT 1 FROM schema_migrations WHERE name = '9999_broken'");
    expect(recorded).toEqual([]);
  });
});
