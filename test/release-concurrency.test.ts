import { Code } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ReleaseEventKind, Target } from "../gen/releases/v1/releases_pb.js";
import { EditingMode } from "../gen/toolsets/v1/toolsets_pb.js";
import { httpTool, uniqueSlug } from "../server/testing/fixtures.js";
import { attempt, failure, type Attempt } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";

// DESIGN §2 rules 4, 5 and 7 under concurrency and failure: publishes,
// rollbacks and mode switches of one toolset serialize on its row lock, release
// numbers stay contiguous, the live pointer only ever names one of the toolset's
// own releases, and a publish that dies half-way leaves nothing behind.

const { database, tenant, api } = useTestServer({ tenants: 1 });
const { auth, releases, createToolset, switchMode, editStaging, publish, rollback, live: liveToolset } = api;
/** A connection of the test's own, for looking at the database directly. */
let inspector: pg.Client;

beforeAll(async () => {
  inspector = await connect();
  await api.deploy([httpTool("a")]);
});
afterAll(async () => {
  await inspector?.end();
});

async function connect(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  return client;
}

/** 1, 2, …, n. */
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

const failureCodes = (results: Attempt<unknown>[]) => results.flatMap((r) => (r.ok ? [] : [r.code]));

/** A toolset in staging mode with releases 1..releaseCount (1 from the switch, the rest published). */
async function stagedToolset(prefix: string, releaseCount = 1): Promise<{ slug: string; id: string }> {
  const slug = uniqueSlug(prefix);
  const { id } = await createToolset(slug, ["a"]);
  await switchMode(slug, EditingMode.STAGING);
  for (let n = 2; n <= releaseCount; n++) {
    await editStaging(slug, { description: `setup ${n}` });
    await publish(slug, `setup ${n}`);
  }
  return { slug, id };
}

/** What the database holds about a toolset's releases. */
interface ReleaseBookkeeping {
  numbers: number[];
  currentReleaseId: string | null;
  currentNumber: number | null;
  lastReleaseNumber: number;
  eventCount: number;
}

async function bookkeeping(toolsetId: string): Promise<ReleaseBookkeeping> {
  const { rows } = await inspector.query<ReleaseBookkeeping>(
    `SELECT t.current_release_id AS "currentReleaseId",
            cr.release_number::int AS "currentNumber",
            t.last_release_number::int AS "lastReleaseNumber",
            ARRAY(SELECT r.release_number::int FROM toolset_releases r WHERE r.toolset_id = t.id ORDER BY r.release_number) AS numbers,
            (SELECT count(*)::int FROM toolset_release_events e WHERE e.toolset_id = t.id) AS "eventCount"
     FROM toolsets t LEFT JOIN toolset_releases cr ON cr.id = t.current_release_id
     WHERE t.id = $1`,
    [toolsetId],
  );
  return rows[0]!;
}

interface EventRow {
  kind: string;
  from_release_id: string | null;
  to_release_id: string | null;
  from_toolset_id: string | null;
  to_toolset_id: string | null;
}

/**
 * The toolset's event log, oldest first, after checking rule 7 under
 * concurrency: every from/to release is one of the toolset's own, each event
 * starts where the previous one ended (the moves serialized), and the last one
 * ends at the current release.
 */
async function checkedEventLog(toolsetId: string): Promise<EventRow[]> {
  const { rows } = await inspector.query<EventRow>(
    `SELECT e.kind, e.from_release_id, e.to_release_id, fr.toolset_id AS from_toolset_id, tr.toolset_id AS to_toolset_id
     FROM toolset_release_events e
     LEFT JOIN toolset_releases fr ON fr.id = e.from_release_id
     LEFT JOIN toolset_releases tr ON tr.id = e.to_release_id
     WHERE e.toolset_id = $1
     ORDER BY e.created_at, e.id`,
    [toolsetId],
  );
  for (const e of rows) {
    if (e.from_release_id !== null) expect(e.from_toolset_id).toBe(toolsetId);
    if (e.to_release_id !== null) expect(e.to_toolset_id).toBe(toolsetId);
  }
  rows.forEach((e, i) => expect(e.from_release_id).toBe(i === 0 ? null : rows[i - 1]!.to_release_id));
  expect(rows.at(-1)?.to_release_id).toBe((await bookkeeping(toolsetId)).currentReleaseId);
  return rows;
}

/** The live row carries its current release's snapshot (publish copies it there, rollback restores it). */
async function expectLiveMatchesCurrentRelease(slug: string, toolsetId: string) {
  const { rows } = await inspector.query<{ description: string; released: string }>(
    `SELECT t.description, tv.description AS released
     FROM toolsets t
     JOIN toolset_releases r ON r.id = t.current_release_id
     JOIN toolset_versions tv ON tv.id = r.toolset_version_id
     WHERE t.id = $1`,
    [toolsetId],
  );
  expect(rows[0]?.description).toBe(rows[0]?.released);
  const resolved = (await releases().resolveToolset({ project: tenant.project, slug, target: Target.LIVE }, auth())).resolved!;
  expect(resolved.description).toBe(rows[0]?.released);
}

describe("concurrent publishes and rollbacks", () => {
  it("20 concurrent publishes of one toolset", async () => {
    const { slug, id } = await stagedToolset("race");
    const results = await Promise.all(
      range(20).map(async (i) => {
        await editStaging(slug, { description: `edit ${i}` });
        return attempt(publish(slug, `publish ${i}`));
      }),
    );

    const published = results.flatMap((r) => (r.ok ? [Number(r.value.releaseNumber)] : []));
    expect(published.length).toBeGreaterThan(0);
    expect(new Set(published).size).toBe(published.length);
    // A publish that finds its edit already released by another one has nothing to publish.
    for (const code of failureCodes(results)) expect([Code.FailedPrecondition, Code.Aborted]).toContain(code);

    const max = published.length + 1;
    expect(published.toSorted((a, b) => a - b)).toEqual(range(max).slice(1));
    const state = await bookkeeping(id);
    expect(state.numbers).toEqual(range(max));
    expect(state.currentNumber).toBe(max);
    expect(state.lastReleaseNumber).toBe(max);
    expect((await liveToolset(slug)).currentReleaseNumber).toBe(BigInt(max));
    const listed = (await releases().listReleases({ project: tenant.project, slug }, auth())).releases;
    expect(listed.map((r) => [Number(r.releaseNumber), r.isCurrent])).toEqual(
      range(max)
        .reverse()
        .map((n) => [n, n === max]),
    );

    const events = await checkedEventLog(id);
    expect(events.filter((e) => e.kind === "published")).toHaveLength(published.length);
    expect(events.map((e) => e.kind)).toEqual(["mode_switched", ...published.map(() => "published")]);
    await expectLiveMatchesCurrentRelease(slug, id);
  });

  it("publishes racing rollbacks", async () => {
    const { slug, id } = await stagedToolset("rbrace", 4);
    const sampler = await connect();
    let workersDone = false;
    try {
      // Until the workers finish, the live pointer must always name one of the toolset's own releases.
      const sampling = (async () => {
        let samples = 0;
        let violations = 0;
        do {
          const { rows } = await sampler.query<{ bad: boolean }>(
            `SELECT (r.id IS NULL OR r.toolset_id <> t.id OR r.release_number > t.last_release_number) AS bad
             FROM toolsets t LEFT JOIN toolset_releases r ON r.id = t.current_release_id
             WHERE t.id = $1`,
            [id],
          );
          samples++;
          if (rows.length !== 1 || rows[0]!.bad) violations++;
        } while (!workersDone);
        return { samples, violations };
      })();
      // Awaited below; this only keeps a failure after a worker's from going unhandled.
      sampling.catch(() => undefined);

      const publishes: Promise<Attempt<unknown>>[] = [];
      const rollbacks: Promise<Attempt<unknown>>[] = [];
      for (const i of range(10)) {
        publishes.push(editStaging(slug, { description: `race edit ${i}` }).then(() => attempt(publish(slug, `race publish ${i}`))));
        rollbacks.push(attempt(rollback(slug, BigInt(1 + Math.floor(Math.random() * 4)))));
      }
      const [published, rolledBack] = await Promise.all([Promise.all(publishes), Promise.all(rollbacks)]).finally(() => {
        workersDone = true;
      });
      const { samples, violations } = await sampling;

      expect(samples).toBeGreaterThan(0);
      expect(violations).toBe(0);
      // Every rollback targets an existing release, so NOT_FOUND would be a bug.
      for (const code of failureCodes([...published, ...rolledBack])) expect([Code.FailedPrecondition, Code.Aborted]).toContain(code);

      const publishedCount = published.filter((r) => r.ok).length;
      const state = await bookkeeping(id);
      expect(state.numbers).toEqual(range(4 + publishedCount));
      expect(state.lastReleaseNumber).toBe(4 + publishedCount);
      expect(state.currentNumber).not.toBeNull();
      expect((await liveToolset(slug)).currentReleaseNumber).toBe(BigInt(state.currentNumber!));

      const events = await checkedEventLog(id);
      expect(events.filter((e) => e.kind === "published")).toHaveLength(3 + publishedCount);
      // A rollback to the release already current logs nothing.
      expect(events.filter((e) => e.kind === "rolled_back").length).toBeLessThanOrEqual(rolledBack.filter((r) => r.ok).length);
      await expectLiveMatchesCurrentRelease(slug, id);
    } finally {
      workersDone = true;
      await sampler.end();
    }
  });
});

describe("a publish that fails half-way", () => {
  it("a publish whose backend is terminated half-way leaves no trace", async () => {
    const { slug, id } = await stagedToolset("killed", 2);
    await editStaging(slug, { description: "never published" });
    const before = await bookkeeping(id);
    const liveBefore = await liveToolset(slug);

    const locker = await connect();
    const killer = await connect();
    // The server runs in this process: an exception nothing catches would crash it in production.
    const uncaught = collectUncaughtExceptions();
    try {
      // Publish writes the event last, after the release and the pointer move: it waits here.
      await locker.query("BEGIN");
      await locker.query("LOCK TABLE toolset_release_events IN EXCLUSIVE MODE");
      const pending = attempt(publish(slug, "terminated"));
      const blocked = await waitForBackendBlockedOnEvents(killer);
      // It had inserted the release already.
      expect(blocked.insertedRelease).toBe(true);
      const { rows } = await killer.query<{ terminated: boolean }>("SELECT pg_terminate_backend($1) AS terminated", [blocked.pid]);
      expect(rows[0]?.terminated).toBe(true);
      await locker.query("ROLLBACK");

      // UNAVAILABLE is expected (the connection died), but any failure will do.
      const result = await pending;
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.message).not.toMatch(/toolset_release_events/);
    } finally {
      uncaught.stop();
      await locker.query("ROLLBACK").catch(() => undefined);
      await locker.end();
      await killer.end();
    }

    expect(await bookkeeping(id)).toEqual(before);
    expect((await liveToolset(slug)).version).toBe(liveBefore.version);
    // The server recovers (a fresh connection) and the number the dead publish took is free again.
    const next = await publish(slug, "after the terminated one");
    expect(Number(next.releaseNumber)).toBe(before.lastReleaseNumber + 1);
    expect((await bookkeeping(id)).numbers).toEqual(range(before.lastReleaseNumber + 1));
    // Checked last, so the checks above report too.
    expect(uncaught.errors.map(String)).toEqual([]);
  });

  it("an error injected after the release insert rolls everything back", async () => {
    const { slug, id } = await stagedToolset("inject", 2);
    await editStaging(slug, { description: "refused by the trigger" });
    const before = await bookkeeping(id);
    const liveBefore = await liveToolset(slug);

    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const name = uniqueSlug("fail_events").replace(/-/g, "_");
    await inspector.query(
      `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.toolset_id = '${id}'::uuid THEN
           RAISE EXCEPTION 'injected failure: trigger ${name} refuses this insert into toolset_release_events';
         END IF;
         RETURN NEW;
       END $$`,
    );
    await inspector.query(`CREATE TRIGGER ${name} BEFORE INSERT ON toolset_release_events FOR EACH ROW EXECUTE FUNCTION ${name}()`);
    try {
      const err = await failure(publish(slug, "injected"));
      expect(err.code).toBe(Code.Internal);
      expect(err.message).not.toMatch(/toolset_release_events|trigger|injected|insert/i);
      expect(await bookkeeping(id)).toEqual(before);
      expect((await liveToolset(slug)).version).toBe(liveBefore.version);
    } finally {
      await inspector.query(`DROP TRIGGER IF EXISTS ${name} ON toolset_release_events`);
      await inspector.query(`DROP FUNCTION IF EXISTS ${name}()`);
    }

    const next = await publish(slug, "after the trigger is gone");
    expect(Number(next.releaseNumber)).toBe(before.lastReleaseNumber + 1);
    expect((await bookkeeping(id)).numbers).toEqual(range(before.lastReleaseNumber + 1));
  });
});

/** Records the process's uncaught exceptions until stop(). */
function collectUncaughtExceptions(): { errors: unknown[]; stop(): void } {
  const errors: unknown[] = [];
  const record = (err: unknown) => void errors.push(err);
  process.on("uncaughtException", record);
  return { errors, stop: () => void process.off("uncaughtException", record) };
}

/**
 * Polls until a backend other than `client`'s waits for a lock to insert into
 * toolset_release_events; reports whether it holds a row-exclusive lock on
 * toolset_releases (it inserted a release). Gives up after a few seconds.
 */
async function waitForBackendBlockedOnEvents(client: pg.Client): Promise<{ pid: number; insertedRelease: boolean }> {
  for (let i = 0; i < 200; i++) {
    const { rows } = await client.query<{ pid: number; insertedRelease: boolean }>(
      `SELECT a.pid,
              EXISTS (SELECT 1 FROM pg_locks l
                      WHERE l.pid = a.pid AND l.granted AND l.relation = 'toolset_releases'::regclass AND l.mode = 'RowExclusiveLock') AS "insertedRelease"
       FROM pg_stat_activity a
       WHERE a.datname = current_database()
         AND a.pid <> pg_backend_pid()
         AND a.wait_event_type = 'Lock'
         AND a.query ILIKE '%insert into%toolset_release_events%'
         AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted AND l.relation = 'toolset_release_events'::regclass)`,
    );
    if (rows.length > 0) {
      expect(rows).toHaveLength(1);
      return rows[0]!;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("no publish backend blocked on toolset_release_events");
}

describe("concurrent mode switches", () => {
  it("concurrent switches to staging create one release and one staging copy", async () => {
    const slug = uniqueSlug("switch");
    const { id } = await createToolset(slug, ["a"]);
    const results = await Promise.all(range(10).map(() => attempt(switchMode(slug, EditingMode.STAGING))));

    expect(failureCodes(results)).toEqual([]);
    for (const r of results) {
      if (r.ok) expect([r.value.editingMode, r.value.currentReleaseNumber]).toEqual([EditingMode.STAGING, 1n]);
    }
    const state = await bookkeeping(id);
    expect(state.numbers).toEqual([1]);
    expect(state.currentNumber).toBe(1);
    expect(state.lastReleaseNumber).toBe(1);
    const { rows } = await inspector.query<{ copies: number }>(
      "SELECT count(*)::int AS copies FROM toolsets WHERE parent_toolset_id = $1 AND deleted_at IS NULL",
      [id],
    );
    expect(rows[0]?.copies).toBe(1);
    expect((await checkedEventLog(id)).map((e) => e.kind)).toEqual(["mode_switched"]);
    const events = (await releases().listReleaseEvents({ project: tenant.project, slug }, auth())).events;
    expect(events.map((e) => [e.kind, e.fromReleaseNumber, e.toReleaseNumber])).toEqual([[ReleaseEventKind.MODE_SWITCHED, 0n, 1n]]);
  });
});
