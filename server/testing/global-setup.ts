import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres } from "../db/embedded.js";
import { migrate } from "../db/migrator.js";
import { freePort } from "../platform/ports.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** Superuser URL of the test cluster's `postgres` database. */
    pgAdminUrl: string;
    /** Name of the migrated template database each test file clones. */
    pgTemplate: string;
    /** Which PostgreSQL the run uses: "DATABASE_URL", "testcontainers" or "embedded". */
    pgSource: string;
  }
}

interface Cluster {
  url: string;
  source: string;
  stop(): Promise<void>;
}

async function dockerAnswers(): Promise<boolean> {
  if (process.env["DOCKER_HOST"] === undefined && !existsSync("/var/run/docker.sock")) return false;
  try {
    const { getContainerRuntimeClient } = await import("testcontainers");
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

/** DATABASE_URL if set; else a container where Docker answers; else embedded PostgreSQL. */
async function startCluster(): Promise<Cluster> {
  const url = process.env["DATABASE_URL"];
  if (url !== undefined && url !== "") return { url, source: "DATABASE_URL", stop: async () => {} };
  if (await dockerAnswers()) {
    const { PostgreSqlContainer } = await import("@testcontainers/postgresql");
    const container = await new PostgreSqlContainer(process.env["TEST_PG_IMAGE"] ?? "postgres:18-alpine").start();
    return { url: container.getConnectionUri(), source: "testcontainers", stop: async () => void (await container.stop()) };
  }
  const embedded = await startEmbeddedPostgres({
    dataDir: join(tmpdir(), `tsr-test-pg-${process.pid}`),
    port: await freePort(),
    persistent: false,
  });
  return { url: embedded.url, source: "embedded", stop: embedded.stop };
}

/** Migrates a template database once per run; test files clone it (see database.ts). */
export default async function setup(project: TestProject) {
  const cluster = await startCluster();
  const template = `tsr_template_${process.pid}`;
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${template}`);
    await admin.query(`CREATE DATABASE ${template}`);
    await migrate(withDatabase(cluster.url, template));
    const { rows } = await admin.query<{ server_version: string }>("SHOW server_version");
    console.log(`test database: ${cluster.source}, PostgreSQL ${rows[0]?.server_version ?? "?"}`);
  } finally {
    await admin.end();
  }
  project.provide("pgAdminUrl", cluster.url);
  project.provide("pgTemplate", template);
  project.provide("pgSource", cluster.source);
  return async () => {
    const c = new pg.Client({ connectionString: cluster.url });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`).catch(() => undefined);
    await c.end();
    await cluster.stop();
  };
}

/** The same server URL pointed at another database. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
