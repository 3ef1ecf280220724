import { existsSync, readFileSync, realpathSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import pg from "pg";
import type { Config } from "../config.js";
import type { Logger } from "../platform/logging.js";
import { freePort, portAnswers } from "../platform/ports.js";
import { embeddedDataDir, newPassword, startEmbeddedPostgres, USER } from "./embedded.js";

/** The database a process uses, and how to let go of it. */
export interface DatabaseHandle {
  url: string;
  /** True when this process started the embedded cluster. */
  embedded: boolean;
  release(): Promise<void>;
}

const EMBEDDED_DB = "toolsets";

/** The superuser password of clusters made before each got a random one. */
const LEGACY_PASSWORD = "postgres";

const adminUrl = (port: number, password: string) => `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;

/**
 * The superuser password of this checkout's cluster, kept in `DATA_DIR/pg.password`
 * (mode 600, this user's): random for a new cluster, so no other local user can
 * connect to the loopback port as superuser; "postgres" for a cluster made before.
 */
async function clusterPassword(pgDir: string, clusterExists: boolean): Promise<string> {
  const file = `${pgDir}.password`;
  try {
    return (await readFile(file, "utf8")).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  if (clusterExists) return LEGACY_PASSWORD;
  const password = newPassword();
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${password}\n`, { mode: 0o600, flag: "wx" });
  return password;
}

/** The data directory of the PostgreSQL answering at `url`, or undefined when none answers (or not as our superuser). */
async function dataDirectoryAt(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ data_directory: string }>("SHOW data_directory");
    return rows[0]?.data_directory;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function sameDir(a: string, b: string): boolean {
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return p;
    }
  };
  return real(a) === real(b);
}

/** The port in a live postmaster.pid of `dataDir` (line 4), or undefined. */
function runningPort(dataDir: string): number | undefined {
  let lines: string[];
  try {
    lines = readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n");
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port) || port <= 0) return undefined;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return undefined;
  }
  return port;
}

/**
 * DATABASE_URL when set; else this checkout's embedded PostgreSQL, the cluster of
 * DATA_DIR/pg. When that cluster runs already (`make run` is up while an admin
 * command runs) it is reused: its postmaster.pid names the port, and the server
 * answering there must report this data directory. Otherwise it is started, on
 * EMBEDDED_PG_PORT when set, else on a free port (recorded by PostgreSQL in
 * postmaster.pid), so two checkouts never share a cluster.
 */
export async function openDatabase(config: Config, logger: Logger): Promise<DatabaseHandle> {
  if (config.databaseUrl !== undefined) return { url: config.databaseUrl, embedded: false, release: async () => {} };
  const pgDir = join(config.dataDir, "pg");
  const dataDir = embeddedDataDir(pgDir);
  const password = await clusterPassword(pgDir, existsSync(join(dataDir, "PG_VERSION")));
  let release = async () => {};
  let started = false;
  let port = runningPort(dataDir);
  if (port !== undefined) {
    const running = await dataDirectoryAt(adminUrl(port, password));
    if (running === undefined || !sameDir(running, dataDir)) port = undefined;
  }
  if (port === undefined) {
    port = config.embeddedPgPort ?? (await freePort());
    // Not ours (ours was looked for above): another checkout's cluster, which
    // refuses our password, or another program.
    if (config.embeddedPgPort !== undefined && (await portAnswers(port))) {
      throw new Error(
        `EMBEDDED_PG_PORT=${port} is taken by another embedded PostgreSQL or another program, not this checkout's cluster (${dataDir}). ` +
          "Unset EMBEDDED_PG_PORT to let each checkout use a free port, or pick another port.",
      );
    }
    logger.info("starting embedded PostgreSQL", { data_dir: dataDir, port });
    const cluster = await startEmbeddedPostgres({ dataDir: pgDir, port, persistent: true, password });
    release = cluster.stop;
    started = true;
  } else {
    logger.info("using the running embedded PostgreSQL", { data_dir: dataDir, port });
  }
  try {
    const admin = new pg.Client({ connectionString: adminUrl(port, password) });
    await admin.connect();
    try {
      const { rowCount } = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [EMBEDDED_DB]);
      if (rowCount === 0) await admin.query(`CREATE DATABASE ${EMBEDDED_DB}`);
    } finally {
      await admin.end();
    }
  } catch (err) {
    await release();
    throw err;
  }
  const url = new URL(adminUrl(port, password));
  url.pathname = `/${EMBEDDED_DB}`;
  return { url: url.toString(), embedded: started, release };
}
