import { Code, type CallOptions, type Client } from "@connectrpc/connect";
import type { DescService } from "@bufbuild/protobuf";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReleaseService } from "../gen/releases/v1/releases_pb.js";
import { SourceService } from "../gen/sources/v1/sources_pb.js";
import { EditingMode, ToolsetService } from "../gen/toolsets/v1/toolsets_pb.js";
import { createDb, createPool } from "../server/db/pool.js";
import { createTenant, httpTool, uniqueSlug, urn, type Tenant } from "../server/testing/fixtures.js";
import { startServerProcess, type ServerProcess } from "../server/testing/server-process.js";
import { attempt, bearer, startTestServer, type Attempt, type TestServer } from "../server/testing/server.js";
import { startTcpProxy, type TcpProxy } from "../server/testing/tcp-proxy.js";
import { useTestDatabase } from "../server/testing/use-test-server.js";
import { Rng } from "./support/fuzz-rpc.js";

// Faults the service must live through without losing an acknowledged write
// or breaking an invariant of releases (DESIGN §2 rules 4, 5, 7):
//   (a) SIGKILL of the process at random points while publishes (with
//       idempotency keys), edits and rollbacks run, then a restart;
//   (b) its PostgreSQL backends terminated in a loop while reads and writes run;
//   (c) a TCP proxy between service and database that kills the connections,
//       cuts the link (refuses new ones) or blackholes it (silence).
// After each: every publish the client saw succeed exists with the number it
// saw; release numbers per toolset are dense and unique; the current release
// is one of the toolset's own; a publish retried with its idempotency key
// returns its release and makes no other; and while the fault lasts calls end
// OK or with a retryable code in bounded time, never INTERNAL.
//
// Seeded (FAULT_SEED=<n> for another run of kill points); the seed is in the test names.

const SEED = Number(process.env["FAULT_SEED"] ?? 1_100_012);
const database = useTestDatabase();
/** A connection of the test's own, for the invariants and for terminating backends. */
let inspector: pg.Client;

beforeAll(async () => {
  inspector = new pg.Client({ connectionString: database.url });
  await inspector.connect();
});
afterAll(async () => {
  await inspector?.end();
});

/** The clients a workload calls, over whichever server is up now. */
interface Clients {
  sources: Client<typeof SourceService>;
  toolsets: Client<typeof ToolsetService>;
  releases: Client<typeof ReleaseService>;
}

function clientsOf(client: <S extends DescService>(service: S) => Client<S>): Clients {
  return { sources: client(SourceService), toolsets: client(ToolsetService), releases: client(ReleaseService) };
}

/** A publish whose release the client saw. */
interface Ack {
  slug: string;
  key: string;
  releaseNumber: bigint;
}

/** What a workload saw: acknowledged publishes, publishes of unknown outcome, every call's code and duration. */
class Ledger {
  readonly acks: Ack[] = [];
  /** Publishes that failed: refused, or lost with the server or the link; their keys are retried later. */
  readonly unsure: { slug: string; key: string }[] = [];
  readonly calls: { rpc: string; code: Code | "ok"; ms: number; message: string }[] = [];

  async call<T>(rpc: string, p: Promise<T>): Promise<Attempt<T>> {
    const t0 = performance.now();
    const r = await attempt(p);
    this.calls.push({ rpc, code: r.ok ? "ok" : r.code, ms: performance.now() - t0, message: r.ok ? "" : r.message });
    return r;
  }

  /** The calls that ended with a code not in `allowed`, for a failure message. */
  unexpected(allowed: readonly (Code | "ok")[]): string[] {
    return this.calls.filter((c) => !allowed.includes(c.code)).map((c) => `${c.rpc}: ${c.code === "ok" ? "ok" : Code[c.code]} ${c.message}`);
  }

  count(code: Code | "ok"): number {
    return this.calls.filter((c) => c.code === code).length;
  }
}

/** A tenant's project with `count` toolsets in staging mode (release 1 each), tool a deployed. */
async function setUp(clients: Clients, auth: CallOptions, tenant: Tenant, count: number): Promise<string[]> {
  await clients.sources.createDeployment({ project: tenant.project, tools: [httpTool("a")] }, auth);
  const slugs: string[] = [];
  for (let i = 0; i < count; i++) {
    const slug = uniqueSlug("fault");
    await clients.toolsets.createToolset({ project: tenant.project, name: slug, slug, toolUrns: [urn("a")] }, auth);
    await clients.toolsets.switchEditingMode({ project: tenant.project, slug, mode: EditingMode.STAGING }, auth);
    slugs.push(slug);
  }
  return slugs;
}

/** The sleep between calls of a workload after a failure, so a dead server is not hammered. */
const BACKOFF_MS = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Edits the staging copy of `slug` and publishes it with a fresh idempotency
 * key, until `stopped()`; each key is `<tag>-<n>`.
 */
async function publisher(
  clients: () => Clients,
  auth: CallOptions,
  project: string,
  slug: string,
  tag: string,
  ledger: Ledger,
  stopped: () => boolean,
) {
  for (let i = 0; !stopped(); i++) {
    const key = `${tag}-${i}`;
    const edit = await ledger.call(
      "UpdateToolset",
      clients().toolsets.updateToolset({ project, slug, staging: true, fields: { description: key }, updateMask: { paths: ["description"] } }, auth),
    );
    if (!edit.ok) {
      await sleep(BACKOFF_MS);
      continue;
    }
    const pub = await ledger.call(
      "PublishStagingVersion",
      clients().releases.publishStagingVersion({ project, slug, notes: key, idempotencyKey: key }, auth),
    );
    if (pub.ok) ledger.acks.push({ slug, key, releaseNumber: pub.value.release!.releaseNumber });
    else {
      ledger.unsure.push({ slug, key });
      await sleep(BACKOFF_MS);
    }
  }
}

/** Rolls a random toolset back to a random release it has, until `stopped()`. */
async function rollbacker(
  clients: () => Clients,
  auth: CallOptions,
  project: string,
  slugs: string[],
  rng: Rng,
  ledger: Ledger,
  stopped: () => boolean,
) {
  while (!stopped()) {
    const slug = rng.pick(slugs);
    const list = await ledger.call("ListReleases", clients().releases.listReleases({ project, slug, pageSize: 50 }, auth));
    if (list.ok && list.value.releases.length > 0) {
      const target = rng.pick(list.value.releases).releaseNumber;
      await ledger.call(
        "RollbackToRelease",
        clients().releases.rollbackToRelease({ project, slug, releaseNumber: target, reason: "fault suite" }, auth),
      );
    }
    await sleep(BACKOFF_MS + rng.int(40));
  }
}

/** Reads that reach the database (toolset, releases) and the served state (resolve), until `stopped()`. */
async function reader(clients: () => Clients, auth: CallOptions, project: string, slugs: string[], rng: Rng, ledger: Ledger, stopped: () => boolean) {
  while (!stopped()) {
    const slug = rng.pick(slugs);
    const r = await Promise.all([
      ledger.call("GetToolset", clients().toolsets.getToolset({ project, slug }, auth)),
      ledger.call("ListReleases", clients().releases.listReleases({ project, slug }, auth)),
      ledger.call("ResolveToolset", clients().releases.resolveToolset({ project, slug }, auth)),
    ]);
    if (r.some((x) => !x.ok)) await sleep(BACKOFF_MS);
  }
}

/**
 * The invariants of releases in the project, read from the database: per
 * toolset, release numbers 1..n with no gap or repeat and last_release_number
 * n; the current release one of its own; every acknowledged publish present
 * with the number the client saw. Returns the violations (empty when all hold).
 */
async function violations(tenant: Tenant, slugs: string[], acks: readonly Ack[]): Promise<string[]> {
  const out: string[] = [];
  const { rows } = await inspector.query<{ slug: string; last: number; currentOwner: string | null; id: string; numbers: number[] }>(
    `SELECT t.id, t.slug, t.last_release_number::int AS last, cr.toolset_id AS "currentOwner",
            ARRAY(SELECT r.release_number::int FROM toolset_releases r WHERE r.toolset_id = t.id ORDER BY r.release_number) AS numbers
     FROM toolsets t
     JOIN projects p ON p.id = t.project_id
     JOIN organizations o ON o.id = p.organization_id
     LEFT JOIN toolset_releases cr ON cr.id = t.current_release_id
     WHERE o.slug = $1 AND p.slug = $2 AND t.slug = ANY($3) AND t.parent_toolset_id IS NULL AND t.deleted_at IS NULL`,
    [tenant.org, tenant.project, slugs],
  );
  if (rows.length !== slugs.length) out.push(`${slugs.length} toolsets expected, ${rows.length} found`);
  for (const t of rows) {
    const dense = t.numbers.every((n, i) => n === i + 1);
    if (!dense) out.push(`${t.slug}: release numbers ${t.numbers.join(",")} are not 1..n`);
    if (t.last !== t.numbers.length) out.push(`${t.slug}: last_release_number ${t.last}, ${t.numbers.length} releases`);
    if (t.currentOwner !== t.id) out.push(`${t.slug}: the current release is ${t.currentOwner === null ? "missing" : "another toolset's"}`);
  }
  const stored = await releasesByKey(tenant);
  for (const a of acks) {
    const n = stored.get(`${a.slug}/${a.key}`);
    if (n !== a.releaseNumber) out.push(`${a.slug}: publish ${a.key} acknowledged as release ${a.releaseNumber}, stored as ${n ?? "nothing"}`);
  }
  return out;
}

/** `slug/idempotency key` → release number, for every release of the project published with a key. */
async function releasesByKey(tenant: Tenant): Promise<Map<string, bigint>> {
  const { rows } = await inspector.query<{ slug: string; key: string; n: string }>(
    `SELECT t.slug, r.idempotency_key AS key, r.release_number::text AS n
     FROM toolset_releases r
     JOIN toolsets t ON t.id = r.toolset_id
     JOIN projects p ON p.id = t.project_id
     JOIN organizations o ON o.id = p.organization_id
     WHERE o.slug = $1 AND p.slug = $2 AND r.idempotency_key IS NOT NULL`,
    [tenant.org, tenant.project],
  );
  return new Map(rows.map((r) => [`${r.slug}/${r.key}`, BigInt(r.n)]));
}

async function releaseCount(tenant: Tenant): Promise<number> {
  const { rows } = await inspector.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM toolset_releases r JOIN toolsets t ON t.id = r.toolset_id JOIN projects p ON p.id = t.project_id
     JOIN organizations o ON o.id = p.organization_id WHERE o.slug = $1 AND p.slug = $2`,
    [tenant.org, tenant.project],
  );
  return rows[0]!.n;
}

/**
 * Publishes again with the keys of `acks` and `unsure`: a key whose release
 * exists must answer that release and add none; a key without one may publish
 * (or find nothing to publish). Returns what went wrong; the new acks join `ledger`.
 */
async function retryIdempotently(
  clients: Clients,
  auth: CallOptions,
  tenant: Tenant,
  ledger: Ledger,
  unsure: readonly { slug: string; key: string }[],
): Promise<string[]> {
  const out: string[] = [];
  const stored = await releasesByKey(tenant);
  const existing = [...ledger.acks.map(({ slug, key }) => ({ slug, key })), ...unsure.filter(({ slug, key }) => stored.has(`${slug}/${key}`))];
  const before = await releaseCount(tenant);
  for (const { slug, key } of existing) {
    const r = await attempt(clients.releases.publishStagingVersion({ project: tenant.project, slug, notes: key, idempotencyKey: key }, auth));
    const want = stored.get(`${slug}/${key}`);
    if (!r.ok) out.push(`retry of ${slug} ${key}: ${Code[r.code]} ${r.message}`);
    else if (r.value.release!.releaseNumber !== want)
      out.push(`retry of ${slug} ${key}: release ${r.value.release!.releaseNumber}, the original is ${want}`);
  }
  const after = await releaseCount(tenant);
  if (after !== before) out.push(`${after - before} releases made by retries of publishes that had one`);
  // Keys whose publish never committed: a retry is a new publish (or has nothing to publish).
  for (const { slug, key } of unsure.filter(({ slug, key }) => !stored.has(`${slug}/${key}`))) {
    const r = await attempt(clients.releases.publishStagingVersion({ project: tenant.project, slug, notes: key, idempotencyKey: key }, auth));
    if (r.ok) ledger.acks.push({ slug, key, releaseNumber: r.value.release!.releaseNumber });
    else if (r.code !== Code.FailedPrecondition) out.push(`retry of uncommitted ${slug} ${key}: ${Code[r.code]} ${r.message}`);
  }
  return out;
}

/** Polls `probe` until it answers true, for at most `ms`; returns whether it did. */
async function eventually(ms: number, probe: () => Promise<boolean>): Promise<boolean> {
  const deadline = performance.now() + ms;
  for (;;) {
    if (await probe()) return true;
    if (performance.now() > deadline) return false;
    await sleep(100);
  }
}

/** One call of each kind succeeds: a read from the database, a resolve, an edit and a publish. */
async function allKindsSucceed(clients: Clients, auth: CallOptions, project: string, slug: string): Promise<boolean> {
  const key = uniqueSlug("probe");
  const results = [
    await attempt(clients.toolsets.getToolset({ project, slug }, auth)),
    await attempt(clients.releases.resolveToolset({ project, slug }, auth)),
    await attempt(
      clients.toolsets.updateToolset({ project, slug, staging: true, fields: { description: key }, updateMask: { paths: ["description"] } }, auth),
    ),
    await attempt(clients.releases.publishStagingVersion({ project, slug, idempotencyKey: key }, auth)),
  ];
  return results.every((r) => r.ok);
}

/** A Kysely handle straight to the test database, for creating tenants. */
async function withDirectDb<T>(fn: (db: ReturnType<typeof createDb>) => Promise<T>): Promise<T> {
  const db = createDb(createPool({ connectionString: database.url, max: 2, statementTimeoutMs: 10_000 }));
  try {
    return await fn(db);
  } finally {
    await db.destroy();
  }
}

describe(`(a) SIGKILL at random points (FAULT_SEED=${SEED})`, () => {
  /** Kills per run (FAULT_ROUNDS=<n> for a longer one by hand). */
  const ROUNDS = Number(process.env["FAULT_ROUNDS"] ?? 3);

  it(
    `${ROUNDS} kills: acknowledged publishes survive, numbers stay dense, retries with the key return the original`,
    { timeout: 120_000 },
    async () => {
      const rng = new Rng(SEED);
      const tenant = await withDirectDb((db) => createTenant(db));
      const auth = bearer(tenant.producerKey);
      let proc: ServerProcess | undefined;
      const processes: ServerProcess[] = [];
      const start = async () => {
        proc = await startServerProcess({ DATABASE_URL: database.url });
        processes.push(proc);
        return clientsOf((s) => proc!.client(s));
      };
      try {
        let clients = await start();
        const slugs = await setUp(clients, auth, tenant, 3);
        const ledger = new Ledger();
        for (let round = 1; round <= ROUNDS; round++) {
          let stopped = false;
          const stop = () => stopped;
          const current = () => clients;
          const unsureBefore = ledger.unsure.length;
          const workers = [
            ...slugs.flatMap((slug, i) => [0, 1].map((w) => publisher(current, auth, tenant.project, slug, `r${round}-t${i}-w${w}`, ledger, stop))),
            rollbacker(current, auth, tenant.project, slugs, new Rng(rng.int(2 ** 31)), ledger, stop),
          ];
          // Somewhere in the first half second of writes.
          await sleep(100 + rng.int(500));
          process.kill(-proc!.child.pid!, "SIGKILL");
          await proc!.exited;
          stopped = true;
          await Promise.all(workers);

          expect(await violations(tenant, slugs, ledger.acks), `after kill ${round}`).toEqual([]);
          clients = await start();
          expect(await retryIdempotently(clients, auth, tenant, ledger, ledger.unsure.slice(unsureBefore)), `retries after kill ${round}`).toEqual(
            [],
          );
          expect(await violations(tenant, slugs, ledger.acks), `after the retries of round ${round}`).toEqual([]);
        }
        // The kills landed among the writes, and the writes did something.
        expect(ledger.acks.length).toBeGreaterThan(ROUNDS);
        expect(ledger.unsure.length).toBeGreaterThan(0);
        expect(await allKindsSucceed(clients, auth, tenant.project, slugs[0]!)).toBe(true);
      } finally {
        for (const p of processes) {
          if (p.child.exitCode === null && p.child.signalCode === null) process.kill(-p.child.pid!, "SIGKILL");
          await p.exited;
        }
      }
    },
  );
});

describe(`(b) backends terminated in a loop (FAULT_SEED=${SEED})`, () => {
  let server: TestServer;
  let tenant: Tenant;
  beforeAll(async () => {
    server = await startTestServer(database.url);
    tenant = await createTenant(server.db);
  });
  afterAll(async () => {
    await server?.close();
  });

  it("every call ends OK, UNAVAILABLE or ABORTED; the service recovers without a restart; invariants hold", { timeout: 60_000 }, async () => {
    const rng = new Rng(SEED + 1);
    const auth = bearer(tenant.producerKey);
    const clients = clientsOf((s) => server.client(s));
    const slugs = await setUp(clients, auth, tenant, 4);
    const ledger = new Ledger();
    const uncaught = collectUncaughtExceptions();
    let stopped = false;
    const stop = () => stopped;
    let terminated = 0;
    try {
      const workers = [
        ...slugs.map((slug, i) => publisher(() => clients, auth, tenant.project, slug, `b-t${i}`, ledger, stop)),
        ...[0, 1, 2].map(() => reader(() => clients, auth, tenant.project, slugs, new Rng(rng.int(2 ** 31)), ledger, stop)),
        rollbacker(() => clients, auth, tenant.project, slugs, new Rng(rng.int(2 ** 31)), ledger, stop),
      ];
      // One backend at a time, at random moments, so calls succeed between the kills and die inside transactions.
      const until = performance.now() + 3_000;
      while (performance.now() < until) {
        const { rows } = await inspector.query<{ n: number }>(
          `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n
           FROM (SELECT pid FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name LIKE 'toolset-release-service%'
                 ORDER BY random() LIMIT 1) b`,
        );
        terminated += rows[0]!.n;
        await sleep(10 + rng.int(50));
      }
      stopped = true;
      await Promise.all(workers);
    } finally {
      stopped = true;
      uncaught.stop();
    }

    expect(terminated, "backends terminated").toBeGreaterThan(10);
    expect(ledger.count("ok"), "calls that succeeded meanwhile").toBeGreaterThan(0);
    expect(ledger.acks.length, "publishes that succeeded meanwhile").toBeGreaterThan(0);
    expect(ledger.unexpected(["ok", Code.Unavailable, Code.Aborted])).toEqual([]);
    // Recovers on its own: the pool drops dead connections and opens new ones.
    expect(await eventually(5_000, () => allKindsSucceed(clients, auth, tenant.project, slugs[0]!))).toBe(true);
    expect(await violations(tenant, slugs, ledger.acks)).toEqual([]);
    expect(await retryIdempotently(clients, auth, tenant, ledger, ledger.unsure)).toEqual([]);
    expect(await violations(tenant, slugs, ledger.acks)).toEqual([]);
    expect(uncaught.errors.map(String)).toEqual([]);
  });
});

describe("(c) a faulty link to the database: kill, cut, blackhole", () => {
  /** Short client-side bounds, so a dead or silent link shows within a second or two. */
  const QUERY_TIMEOUT_MS = 1_000;
  const CONNECT_TIMEOUT_MS = 1_000;
  /** Longest a call may take while the link is down: both bounds and generous slack for a loaded machine. */
  const CALL_BOUND_MS = QUERY_TIMEOUT_MS + CONNECT_TIMEOUT_MS + 3_000;
  let proxy: TcpProxy;
  let server: TestServer;
  let tenant: Tenant;
  let slugs: string[];
  let clients: Clients;
  const acks: Ack[] = [];

  beforeAll(async () => {
    const target = new URL(database.url);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    const viaProxy = new URL(database.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    server = await startTestServer(viaProxy.toString(), { dbQueryTimeoutMs: QUERY_TIMEOUT_MS, dbConnectTimeoutMs: CONNECT_TIMEOUT_MS });
    tenant = await createTenant(server.db);
    clients = clientsOf((s) => server.client(s));
    slugs = await setUp(clients, bearer(tenant.producerKey), tenant, 3);
  });
  afterAll(async () => {
    await proxy?.restore();
    await server?.close();
    await proxy?.close();
  });

  const faults: { name: string; apply: () => Promise<void>; holdMs: number }[] = [
    // Every connection reset at once; new ones go through.
    { name: "kill", apply: async () => (await proxy.cut(), await proxy.restore()), holdMs: 0 },
    // Connections reset and new ones refused until restore.
    { name: "cut", apply: () => proxy.cut(), holdMs: 2_000 },
    // Nothing closed, nothing answered, until restore.
    { name: "blackhole", apply: async () => proxy.blackhole(), holdMs: 2_500 },
  ];

  for (const fault of faults) {
    it(
      `${fault.name}: calls end OK or UNAVAILABLE within ${CALL_BOUND_MS} ms, /healthz answers, all recovers once the link is back`,
      { timeout: 60_000 },
      async () => {
        const rng = new Rng(SEED + fault.name.length);
        const auth = bearer(tenant.producerKey);
        const ledger = new Ledger();
        let stopped = false;
        const stop = () => stopped;
        const workers = [
          ...slugs.map((slug, i) => publisher(() => clients, auth, tenant.project, slug, `c-${fault.name}-t${i}`, ledger, stop)),
          ...[0, 1].map(() => reader(() => clients, auth, tenant.project, slugs, new Rng(rng.int(2 ** 31)), ledger, stop)),
        ];
        let healthz: { status: number; ms: number } | undefined;
        try {
          await sleep(200);
          const callsBefore = ledger.calls.length;
          await fault.apply();
          if (fault.holdMs > 0) {
            await sleep(fault.holdMs / 2);
            const t0 = performance.now();
            const res = await fetch(`${server.baseUrl}/healthz`);
            healthz = { status: res.status, ms: performance.now() - t0 };
            await sleep(fault.holdMs / 2);
            // Calls made while the link was down failed (they did not hang, nor succeed against no database).
            expect(
              ledger.calls.slice(callsBefore).filter((c) => c.rpc !== "ResolveToolset" && c.code === Code.Unavailable).length,
              "calls refused UNAVAILABLE during the fault",
            ).toBeGreaterThan(0);
          }
          await proxy.restore();
          await sleep(300);
        } finally {
          stopped = true;
          await proxy.restore();
          await Promise.all(workers);
        }
        if (healthz) expect(healthz).toEqual({ status: 200, ms: expect.any(Number) as number });
        if (healthz) expect(healthz.ms).toBeLessThan(2_000);
        // While every pool connection hangs on the silent link, a new call's checkout can time out with all of
        // them busy: that is answered RESOURCE_EXHAUSTED OVERLOADED (retry later), as a jammed pool is.
        expect(ledger.unexpected(["ok", Code.Unavailable, Code.Aborted, Code.ResourceExhausted])).toEqual([]);
        const slow = ledger.calls
          .filter((c) => c.ms > CALL_BOUND_MS)
          .map((c) => `${c.rpc} ${Math.round(c.ms)} ms (${c.code === "ok" ? "ok" : Code[c.code]})`);
        expect(slow, "calls slower than the bound").toEqual([]);
        expect(await eventually(10_000, () => allKindsSucceed(clients, auth, tenant.project, slugs[0]!)), "recovered").toBe(true);
        expect(await violations(tenant, slugs, [...acks, ...ledger.acks])).toEqual([]);
        expect(await retryIdempotently(clients, auth, tenant, ledger, ledger.unsure)).toEqual([]);
        // The acks of every fault so far: a later fault must not lose an earlier one's releases.
        acks.push(...ledger.acks);
        expect(await violations(tenant, slugs, acks)).toEqual([]);
      },
    );
  }
});

/** Records the process's uncaught exceptions until stop() (an in-process server must not crash on a dead connection). */
function collectUncaughtExceptions(): { errors: unknown[]; stop(): void } {
  const errors: unknown[] = [];
  const record = (err: unknown) => void errors.push(err);
  process.on("uncaughtException", record);
  return { errors, stop: () => void process.off("uncaughtException", record) };
}
