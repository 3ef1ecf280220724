import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants, existsSync, readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { Target, type Release, type ReleaseEvent, type ResolvedToolset } from "../gen/releases/v1/releases_pb.js";
import { EditingMode, type Toolset } from "../gen/toolsets/v1/toolsets_pb.js";
import { verifyRestore } from "../server/cli/restore-verification.js";
import { startEmbeddedPostgres } from "../server/db/embedded.js";
import { migrate } from "../server/db/migrator.js";
import { freePort } from "../server/platform/ports.js";
import { driver, type Driver } from "../server/testing/driver.js";
import { createTenant, httpTool, urn } from "../server/testing/fixtures.js";
import { withDatabase } from "../server/testing/global-setup.js";
import { startTestServer, type TestServer } from "../server/testing/server.js";

// docs/operations.md, "Backing up and restoring": the commands it gives, run
// here as they are written (scripts/backup.sh, scripts/restore.sh). A database
// holding releases is dumped and restored into a new one; a service on the copy
// serves every release at its original etag, with the same history, and its
// change feed works (the triggers came back too).
//
// pg_dump refuses a server newer than itself, and the suite may run on a newer
// PostgreSQL (the embedded 18) than the machine's client tools (Debian
// bookworm's 15). So the test takes the newest client tools it finds: when
// they are as new as the suite's server, it works there; when they are older,
// on a throwaway cluster of their own version (the server binaries beside
// them); with none at all, it fails saying what to install.

const execFileAsync = promisify(execFile);
const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SCRIPTS = join(ROOT, "scripts");
/** What scripts/backup.sh and scripts/restore.sh run. */
const CLIENT_TOOLS = ["pg_dump", "pg_restore", "psql", "vacuumdb"];

/** A directory of PostgreSQL client tools, of one major version. */
interface ClientTools {
  dir: string;
  major: number;
  /** initdb and postgres of the same version are there too. */
  hasServer: boolean;
}

/** Subdirectories of `parent` whose name starts with `prefix`, joined with `rest`. */
function versioned(parent: string, prefix: string, rest: string): string[] {
  try {
    return readdirSync(parent)
      .filter((name) => name.startsWith(prefix))
      .map((name) => join(parent, name, rest));
  } catch {
    return [];
  }
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Every directory holding all the client tools the scripts run: PG_BIN (which
 * the scripts read too), PATH, and where packages put each major version
 * (Debian and Ubuntu, the PGDG RPMs, Homebrew, Postgres.app). Newest first.
 */
function findClientTools(): ClientTools[] {
  const dirs = [
    ...(process.env["PG_BIN"] ? [process.env["PG_BIN"]] : []),
    ...(process.env["PATH"] ?? "").split(delimiter).filter(Boolean),
    ...versioned("/usr/lib/postgresql", "", "bin"),
    ...versioned("/usr", "pgsql-", "bin"),
    ...versioned("/opt/homebrew/opt", "postgresql", "bin"),
    ...versioned("/usr/local/opt", "postgresql", "bin"),
    "/opt/homebrew/opt/libpq/bin",
    "/usr/local/opt/libpq/bin",
    ...versioned("/Applications/Postgres.app/Contents/Versions", "", "bin"),
  ];
  const found: ClientTools[] = [];
  for (const dir of new Set(dirs)) {
    if (!CLIENT_TOOLS.every((tool) => executable(join(dir, tool)))) continue;
    let version: string;
    try {
      version = execFileSync(join(dir, "pg_dump"), ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    } catch {
      continue;
    }
    const major = Number(/\(PostgreSQL\) (\d+)/.exec(version)?.[1]);
    if (!Number.isInteger(major)) continue;
    found.push({ dir, major, hasServer: executable(join(dir, "initdb")) && executable(join(dir, "postgres")) });
  }
  return found.sort((a, b) => b.major - a.major);
}

async function adminQuery<R extends pg.QueryResultRow>(url: string, text: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text)).rows;
  } finally {
    await client.end();
  }
}

/** Where the test backs up and restores: a PostgreSQL cluster, and the client tools that can dump it. */
interface Site {
  /** Superuser URL of the cluster's `postgres` database. */
  adminUrl: string;
  /** PG_BIN for the scripts. */
  pgBin: string;
  /** What it is, for the log. */
  what: string;
  stop(): Promise<void>;
}

/** The suite's own cluster when the newest client tools can dump it; else a throwaway cluster of their version. */
async function chooseSite(): Promise<Site> {
  const suiteUrl = inject("pgAdminUrl");
  const [row] = await adminQuery<{ server_version_num: string }>(suiteUrl, "SHOW server_version_num");
  const suiteMajor = Math.floor(Number(row?.server_version_num) / 10_000);
  const tools = findClientTools();
  const fresh = tools.find((t) => t.major >= suiteMajor);
  if (fresh) {
    return {
      adminUrl: suiteUrl,
      pgBin: fresh.dir,
      what: `the suite's PostgreSQL ${suiteMajor}, client tools ${fresh.major} of ${fresh.dir}`,
      stop: async () => {},
    };
  }
  const own = tools.find((t) => t.hasServer);
  if (own) {
    const cluster = await startEmbeddedPostgres({
      dataDir: join(tmpdir(), `tsr-backup-pg${own.major}-${process.pid}-${randomBytes(3).toString("hex")}`),
      port: await freePort(),
      persistent: false,
      nativeDir: dirname(own.dir),
    });
    return {
      adminUrl: cluster.url,
      pgBin: own.dir,
      what: `a throwaway PostgreSQL ${own.major} of ${own.dir} (the suite's ${suiteMajor} is newer than every pg_dump here)`,
      stop: cluster.stop,
    };
  }
  const seen = tools.length === 0 ? "none" : tools.map((t) => `${t.major} in ${t.dir}`).join(", ");
  throw new Error(
    [
      `backup-restore: no PostgreSQL client tools (${CLIENT_TOOLS.join(", ")}) that can dump the suite's PostgreSQL ${suiteMajor} (found: ${seen}).`,
      "scripts/backup.sh and scripts/restore.sh, which this test runs, need them, of the server's major version or newer.",
      "Install them: Debian/Ubuntu `apt-get install postgresql-client` (a newer major: the PGDG repository, https://www.postgresql.org/download/linux/),",
      "Fedora/RHEL `dnf install postgresql`, macOS `brew install libpq`; or set PG_BIN to their directory.",
      tools.length > 0
        ? `With only older tools, install their server too (Debian: postgresql-${tools[0]?.major ?? ""}): the test then runs on a throwaway cluster of that version.`
        : "",
    ]
      .filter(Boolean)
      .join("\n"),
  );
}

/** What one toolset serves and records, read through the API. */
interface ToolsetRecord {
  live: Toolset;
  stagingCopy: Toolset | null;
  releases: Release[];
  events: ReleaseEvent[];
  /** By "live", "staging", "release <n>". */
  resolved: Record<string, ResolvedToolset>;
}

/** Everything a tenant's toolsets serve and record: what must survive a restore. */
async function snapshot(api: Driver, slugs: string[]): Promise<Record<string, ToolsetRecord>> {
  const out: Record<string, ToolsetRecord> = {};
  for (const slug of slugs) {
    const live = await api.live(slug);
    const staging = live.editingMode === EditingMode.STAGING;
    const { releases } = await api.listReleases(slug, 100);
    const { events } = await api.listEvents(slug, 100);
    const resolved: Record<string, ResolvedToolset> = { live: await api.resolve(slug, Target.LIVE) };
    if (staging) resolved["staging"] = await api.resolve(slug, Target.STAGING);
    for (const r of releases) resolved[`release ${r.releaseNumber}`] = await api.resolve(slug, Target.UNSPECIFIED, r.releaseNumber);
    out[slug] = { live, stagingCopy: staging ? await api.stagingCopy(slug) : null, releases, events, resolved };
  }
  return out;
}

/** The etag of every resolve in a snapshot, by "slug target". */
function etags(snap: Record<string, ToolsetRecord>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [slug, record] of Object.entries(snap)) {
    for (const [target, r] of Object.entries(record.resolved)) out[`${slug} ${target}`] = r.etag;
  }
  return out;
}

/** Polls `probe` until it answers true, for at most 10 s. */
async function until(what: string, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`waited 10 s for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let chosen: Promise<Site> | undefined;
/** The site, chosen on first use: without usable client tools each test fails (never skips) saying what to install. */
const site = () =>
  (chosen ??= chooseSite().then((s) => {
    console.log(`backup-restore: on ${s.what}`);
    return s;
  }));
const databases: string[] = [];
const servers: TestServer[] = [];
let workDir: string | undefined;

/** A new database on the site; migrated unless `empty`. */
async function newDatabase(empty: boolean): Promise<string> {
  const { adminUrl } = await site();
  const name = `tsr_backup_${randomBytes(6).toString("hex")}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
  databases.push(name);
  const url = withDatabase(adminUrl, name);
  if (!empty) await migrate(url);
  return url;
}

async function serve(url: string): Promise<TestServer> {
  const server = await startTestServer(url);
  servers.push(server);
  return server;
}

/** Runs one of the scripts as docs/operations.md gives it, with the site's client tools; returns its output. */
async function script(name: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(join(SCRIPTS, name), args, { env: { ...process.env, PG_BIN: (await site()).pgBin } });
  return stdout;
}

/** Runs `node --import tsx server/cli/verify-restore.ts` as docs/operations.md gives it; its exit code and output. */
async function verifyRestoreCommand(databaseUrl: string, serviceUrl: string): Promise<{ code: number; stdout: string }> {
  return execFileAsync(process.execPath, ["--import", "tsx", "server/cli/verify-restore.ts", databaseUrl, serviceUrl], { cwd: ROOT }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (e: { code?: number; stdout?: string }) => ({ code: e.code ?? -1, stdout: e.stdout ?? "" }),
  );
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "tsr-backup-"));
});
afterAll(async () => {
  for (const s of servers) await s.close();
  const done = await chosen?.catch(() => undefined);
  if (done) {
    for (const name of databases) await adminQuery(done.adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
    await done.stop();
  }
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

// Generous: it starts a cluster (when the tools are older than the suite's server), three servers and two processes.
it(
  "a dump restored into a new database serves every release at its etag, with the same history, and its change feed works",
  { timeout: 120_000 },
  async () => {
    const sourceUrl = await newDatabase(false);
    const source = await serve(sourceUrl);
    const tenant = await createTenant(source.db);
    const other = await createTenant(source.db);
    const api = driver(source, tenant);

    // alpha: releases 1-3, rolled back to 1, and an unpublished staged edit.
    await api.deploy([httpTool("a"), httpTool("b"), httpTool("c")]);
    await api.upsertPrompt("triage", "Triage {{ticket}}");
    await api.globalVariation("a", "a, globally");
    await api.staged("alpha", ["a", "b"], ["triage"]);
    await api.editStaging("alpha", { toolUrns: [urn("a"), urn("b"), urn("c")] });
    const r2 = await api.publish("alpha", "with c", "alpha-r2");
    await api.stagingVariation("alpha", "b", "b, staged");
    await api.publish("alpha", "b described");
    await api.rollback("alpha", 1n, "back to the first");
    await api.editStaging("alpha", { description: "not yet published" });
    // beta: a published MCP endpoint; gamma: iteration mode, no releases.
    await api.staged("beta", ["c"]);
    await api.editStaging("beta", { mcpSlug: "beta-mcp", mcpEnabled: true });
    await api.publish("beta", "on MCP");
    await api.createToolset("gamma", ["a", "c"]);
    await api.editLive("gamma", { description: "edited live" });
    // Another organization's toolset.
    const otherApi = driver(source, other);
    await otherApi.deploy([httpTool("x")]);
    await otherApi.staged("omega", ["x"]);

    const slugs = ["alpha", "beta", "gamma"];
    const before = await snapshot(api, slugs);
    const otherBefore = await snapshot(otherApi, ["omega"]);
    // What the copy must reproduce is not trivial: several releases, a rollback, staging ahead of live.
    const alpha = before["alpha"]!;
    expect(alpha.releases.map((r) => [r.releaseNumber, r.isCurrent])).toEqual([
      [3n, false],
      [2n, false],
      [1n, true],
    ]);
    expect(alpha.events).toHaveLength(4);
    const alphaEtags = etags({ alpha });
    expect(alphaEtags["alpha live"]).toBe(alphaEtags["alpha release 1"]);
    expect(new Set([alphaEtags["alpha live"], alphaEtags["alpha staging"], alphaEtags["alpha release 2"], alphaEtags["alpha release 3"]]).size).toBe(
      4,
    );

    // Backed up while the service runs, as in production; then restored into a new database.
    const file = join(workDir!, "toolsets.dump");
    expect(await script("backup.sh", [sourceUrl, file])).toContain(`backed up to ${file}`);
    const restoredUrl = await newDatabase(true);
    expect(await script("restore.sh", [file, restoredUrl])).toContain("restored");

    // A service on the copy: ready (every migration recorded), the same keys, the same content.
    const restored = await serve(restoredUrl);
    expect((await fetch(`${restored.baseUrl}/readyz`)).status).toBe(200);
    const verified = await verifyRestoreCommand(restoredUrl, restored.baseUrl);
    expect(verified).toMatchObject({ code: 0 });
    expect(verified.stdout).toContain(
      "checked 4 live toolsets: 3 serve their current release at its recorded etag, 1 in iteration mode resolved, 0 failed",
    );
    const restoredApi = driver(restored, tenant);
    const after = await snapshot(restoredApi, slugs);
    expect(etags(after)).toEqual(etags(before));
    expect(after).toEqual(before);
    expect(await snapshot(driver(restored, other), ["omega"])).toEqual(otherBefore);

    // Writes go on where they stopped: a publish retried with its key returns its release,
    // a new one takes the next number, and a second replica hears of it through the change feed.
    const retried = await restoredApi.publish("alpha", "with c", "alpha-r2");
    expect([retried.id, retried.releaseNumber, retried.etag]).toEqual([r2.id, 2n, r2.etag]);
    const second = await serve(restoredUrl);
    const secondApi = driver(second, tenant);
    expect((await secondApi.resolve("alpha")).etag).toBe(alphaEtags["alpha live"]);
    const r4 = await restoredApi.publish("alpha", "after the restore");
    expect(r4.releaseNumber).toBe(4n);
    expect(r4.etag).toBe(alphaEtags["alpha staging"]);
    await until("the second replica to serve release 4", async () => (await secondApi.resolve("alpha")).etag === r4.etag);
    expect((await secondApi.resolve("alpha")).releaseNumber).toBe(4n);

    // The verification tells a release that no longer serves its recorded etag (in process: the command ran above).
    await adminQuery(restoredUrl, "UPDATE toolset_releases SET etag = 'tampered' WHERE notes = 'on MCP'");
    const lines: string[] = [];
    expect(await verifyRestore(restoredUrl, restored.baseUrl, (line) => lines.push(line))).toBe(1);
    expect(lines).toContain(
      `${tenant.org}/${tenant.project}/beta: serves release 2 etag ${before["beta"]!.releases[0]!.etag}; recorded: release 2 etag tampered`,
    );
  },
);

it("restore.sh refuses a database that is not empty", { timeout: 60_000 }, async () => {
  const url = await newDatabase(false);
  const file = join(workDir!, "schema-only.dump");
  await script("backup.sh", [url, file]);
  expect(existsSync(`${file}.partial`)).toBe(false);
  const err = await script("restore.sh", [file, url]).then(
    () => undefined,
    (e: { code?: number; stderr?: string }) => e,
  );
  expect(err?.code).toBe(1);
  expect(err?.stderr).toContain("restore into a new, empty database");
});
