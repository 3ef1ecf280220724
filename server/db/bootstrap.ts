import { join } from "node:path";
import pg from "pg";
import type { Config } from "../config.js";
import type { Logger } from "../platform/logging.js";
import { startEmbeddedPostgres } from "./embedded.js";

/** The database a process uses, and how to let go of it. */
export interface DatabaseHandle {
  url: string;
  /** True when this process started the embedded cluster. */
  embedded: boolean;
  release(): Promise<void>;
}

const EMBEDDED_DB = "toolsets";

async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * DATABASE_URL when set; else the embedded PostgreSQL under DATA_DIR, started
 * here unless another process of ours (say `make run` while an admin command
 * runs) already serves it on EMBEDDED_PG_PORT.
 */
export async function openDatabase(config: Config, logger: Logger): Promise<DatabaseHandle> {
  if (config.databaseUrl !== undefined) return { url: config.databaseUrl, embedded: false, release: async () => {} };
  const adminUrl = `postgres://postgres:postgres@127.0.0.1:${config.embeddedPgPort}/postgres`;
  let release = async () => {};
  let started = false;
  if (!(await answers(adminUrl))) {
    const dataDir = join(config.dataDir, "pg");
    logger.info("starting embedded PostgreSQL", { data_dir: dataDir, port: config.embeddedPgPort });
    const cluster = await startEmbeddedPostgres({ dataDir, port: config.embeddedPgPort, persistent: true });
    release = cluster.stop;
    started = true;
  }
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const { rowCount } = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [EMBEDDED_DB]);
    if (rowCount === 0) await admin.query(`CREATE DATABASE ${EMBEDDED_DB}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${EMBEDDED_DB}`;
  return { url: url.toString(), embedded: started, release };
}
