import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { withDatabase } from "./global-setup.js";

/** A database of a test file's own, dropped by `drop()`. */
export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: inject("pgAdminUrl") });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function create(sql: (name: string) => string): Promise<TestDatabase> {
  const name = `tsr_test_${randomBytes(6).toString("hex")}`;
  // Two clones of one template at the same instant can collide on the template's
  // lock (SQLSTATE 55006); a short retry settles it.
  for (let attempt = 0; ; attempt++) {
    try {
      await adminQuery(sql(name));
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== "55006" || attempt >= 20) throw err;
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
    }
  }
  return {
    name,
    url: withDatabase(inject("pgAdminUrl"), name),
    drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/** A fresh clone of the migrated template: fast, and isolated from every other test file. */
export function cloneTemplateDatabase(): Promise<TestDatabase> {
  return create((name) => `CREATE DATABASE ${name} TEMPLATE ${inject("pgTemplate")}`);
}

/** An empty database with no migrations applied (migration tests). */
export function createEmptyDatabase(): Promise<TestDatabase> {
  return create((name) => `CREATE DATABASE ${name}`);
}
