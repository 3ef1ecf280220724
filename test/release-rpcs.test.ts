import { Code } from "@connectrpc/connect";
import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { ChangeKind, ReleaseEventKind, ReleaseService, Target, type ReleaseEvent } from "../gen/releases/v1/releases_pb.js";
import { SourceService } from "../gen/sources/v1/sources_pb.js";
import { EditingMode, ToolsetService } from "../gen/toolsets/v1/toolsets_pb.js";
import { ref } from "../server/testing/driver.js";
import { createTenant, httpTool as tool, uniqueSlug, urn } from "../server/testing/fixtures.js";
import { allPages, pageLengths } from "../server/testing/pages.js";
import { encodePageToken } from "../server/platform/pagination.js";
import { bearer, failure, outcome } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";

// The staging and release RPCs at their edges: tenancy, input validation,
// errors of state, pagination, what a release records, deleted toolsets, gRPC.

const { server, tenant, other, api: main } = useTestServer({ tenants: 2 });
const { toolsets, releases, auth } = main;

/** A toolset in staging mode at release 2 whose staging copy holds unpublished changes: any write that got through would show. */
let fixture: string;
/** Another toolset in staging mode with two releases, whose page tokens must not work for `fixture`. */
let second: string;
const tokens = { releasesOfSecond: "", eventsOfSecond: "", releasesOfFixture: "" };

beforeAll(async () => {
  await main.deploy([tool("a"), tool("b"), tool("c")]);
  fixture = uniqueSlug("fixture");
  await main.staged(fixture, ["a"]);
  await main.editStaging(fixture, { toolUrns: [urn("a"), urn("b")] });
  await main.publish(fixture, "adds b");
  await main.editStaging(fixture, { toolUrns: [urn("a"), urn("b"), urn("c")], description: "unpublished" });

  second = uniqueSlug("second");
  await main.staged(second, ["a"]);
  await main.editStaging(second, { toolUrns: [urn("a"), urn("c")] });
  await main.publish(second);
  tokens.releasesOfSecond = (await main.listReleases(second, 1)).nextPageToken;
  tokens.eventsOfSecond = (await main.listEvents(second, 1)).nextPageToken;
  tokens.releasesOfFixture = (await main.listReleases(fixture, 1)).nextPageToken;
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const eventSummary = (e: ReleaseEvent) => [e.kind, e.fromReleaseNumber, e.toReleaseNumber];

/** Everything about a toolset a call could change: its rows (live, staging copies, deleted or not), releases and events. */
async function toolsetState(slug: string) {
  const rows = await server.db.selectFrom("toolsets").selectAll().where("slug", "=", slug).orderBy("id").execute();
  const ids = rows.filter((r) => r.parent_toolset_id === null).map((r) => r.id);
  const releaseRows = await server.db.selectFrom("toolset_releases").selectAll().where("toolset_id", "in", ids).orderBy("id").execute();
  const eventRows = await server.db.selectFrom("toolset_release_events").selectAll().where("toolset_id", "in", ids).orderBy("id").execute();
  return { rows, releases: releaseRows, events: eventRows };
}

/** Row counts of the tables a staging or release RPC writes. */
async function rowCounts() {
  const count = async (table: string) => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(table)}`.execute(server.db)).rows[0]!.n;
  return { toolsets: await count("toolsets"), releases: await count("toolset_releases"), events: await count("toolset_release_events") };
}

describe("tenancy", () => {
  type Call = (key: string, project: string) => Promise<unknown>;
  const rpcs: [string, "read" | "write", Call][] = [
    [
      "SwitchEditingMode",
      "write",
      (k, p) => toolsets().switchEditingMode({ project: p, slug: fixture, mode: EditingMode.ITERATION, discardStaging: true }, bearer(k)),
    ],
    ["CreateStagingVersion", "write", (k, p) => toolsets().createStagingVersion({ project: p, slug: fixture }, bearer(k))],
    ["GetStagingVersion", "read", (k, p) => toolsets().getStagingVersion({ project: p, slug: fixture }, bearer(k))],
    ["DiscardStagingVersion", "write", (k, p) => toolsets().discardStagingVersion({ project: p, slug: fixture }, bearer(k))],
    ["PublishStagingVersion", "write", (k, p) => releases().publishStagingVersion({ project: p, slug: fixture, notes: "not by you" }, bearer(k))],
    ["ListReleases", "read", (k, p) => releases().listReleases({ project: p, slug: fixture }, bearer(k))],
    ["GetRelease", "read", (k, p) => releases().getRelease({ project: p, slug: fixture, releaseNumber: 1n }, bearer(k))],
    [
      "RollbackToRelease",
      "write",
      (k, p) => releases().rollbackToRelease({ project: p, slug: fixture, releaseNumber: 1n, reason: "not by you" }, bearer(k)),
    ],
    ["ListReleaseEvents", "read", (k, p) => releases().listReleaseEvents({ project: p, slug: fixture }, bearer(k))],
    ["DiffReleases", "read", (k, p) => releases().diffReleases({ project: p, slug: fixture, from: ref(1n), to: ref(Target.STAGING) }, bearer(k))],
    [
      "ResolveToolset (TARGET_STAGING)",
      "read",
      (k, p) => releases().resolveToolset({ project: p, slug: fixture, target: Target.STAGING }, bearer(k)),
    ],
    ["ResolveToolset (release_number)", "read", (k, p) => releases().resolveToolset({ project: p, slug: fixture, releaseNumber: 1n }, bearer(k))],
  ];

  it.each(rpcs)("%s: consumer key %s access; another organization's key gets NOT_FOUND; the toolset is unchanged", async (_name, kind, call) => {
    const before = await toolsetState(fixture);
    if (kind === "write") {
      const denied = await failure(call(tenant.consumerKey, tenant.project));
      expect(denied.code).toBe(Code.PermissionDenied);
      expect(denied.message).toMatch(/producer scope/);
    } else {
      // A consumer gets the same answer as a producer.
      expect(await call(tenant.consumerKey, tenant.project)).toEqual(await call(tenant.producerKey, tenant.project));
    }
    expect(await outcome(call(other.producerKey, tenant.project))).toBe(Code.NotFound);
    // A consumer of the other organization is stopped by its scope first, or finds nothing.
    expect(await outcome(call(other.consumerKey, tenant.project))).toBe(kind === "write" ? Code.PermissionDenied : Code.NotFound);
    // Nor does the slug exist in the other organization's own project.
    expect(await outcome(call(other.producerKey, other.project))).toBe(Code.NotFound);
    expect(await toolsetState(fixture)).toEqual(before);
  });
});

describe("invalid input gives INVALID_ARGUMENT naming the field and writes nothing", () => {
  const p = () => tenant.project;
  const long = (n: number) => "x".repeat(n);
  const badSlugs: [string, string][] = [
    ["missing slug", ""],
    ["upper-case slug", "Bad-Slug"],
    ["slug with a space", "bad slug"],
    ["slug of 64 characters", `a${long(63)}`],
  ];
  const slugCases = (rpc: string, call: (slug: string) => Promise<unknown>): [string, string, () => Promise<unknown>][] =>
    badSlugs.map(([what, slug]) => [`${rpc}: ${what}`, "slug", () => call(slug)]);

  const cases: [string, string, () => Promise<unknown>][] = [
    ...slugCases("SwitchEditingMode", (slug) => toolsets().switchEditingMode({ project: p(), slug, mode: EditingMode.ITERATION }, auth())),
    [
      "SwitchEditingMode: bad project",
      "project",
      () => toolsets().switchEditingMode({ project: "Bad Project", slug: fixture, mode: EditingMode.ITERATION }, auth()),
    ],
    [
      "SwitchEditingMode: missing project",
      "project",
      () => toolsets().switchEditingMode({ project: "", slug: fixture, mode: EditingMode.ITERATION }, auth()),
    ],
    [
      "SwitchEditingMode: mode UNSPECIFIED",
      "mode",
      () => toolsets().switchEditingMode({ project: p(), slug: fixture, mode: EditingMode.UNSPECIFIED }, auth()),
    ],
    ["SwitchEditingMode: mode 99", "mode", () => toolsets().switchEditingMode({ project: p(), slug: fixture, mode: 99 as EditingMode }, auth())],
    [
      "SwitchEditingMode: discard_staging with mode STAGING",
      "discard_staging",
      () => toolsets().switchEditingMode({ project: p(), slug: fixture, mode: EditingMode.STAGING, discardStaging: true }, auth()),
    ],

    ...slugCases("CreateStagingVersion", (slug) => toolsets().createStagingVersion({ project: p(), slug }, auth())),
    ["CreateStagingVersion: bad project", "project", () => toolsets().createStagingVersion({ project: "-bad", slug: fixture }, auth())],

    ...slugCases("GetStagingVersion", (slug) => toolsets().getStagingVersion({ project: p(), slug }, auth())),
    ["GetStagingVersion: bad project", "project", () => toolsets().getStagingVersion({ project: "BAD", slug: fixture }, auth())],

    ...slugCases("DiscardStagingVersion", (slug) => toolsets().discardStagingVersion({ project: p(), slug }, auth())),
    ["DiscardStagingVersion: bad project", "project", () => toolsets().discardStagingVersion({ project: "BAD", slug: fixture }, auth())],

    ...slugCases("PublishStagingVersion", (slug) => releases().publishStagingVersion({ project: p(), slug }, auth())),
    ["PublishStagingVersion: bad project", "project", () => releases().publishStagingVersion({ project: "BAD", slug: fixture }, auth())],
    [
      "PublishStagingVersion: notes over 4096 characters",
      "notes",
      () => releases().publishStagingVersion({ project: p(), slug: fixture, notes: long(4097) }, auth()),
    ],
    [
      "PublishStagingVersion: NUL in notes",
      "notes",
      () => releases().publishStagingVersion({ project: p(), slug: fixture, notes: "a\u0000b" }, auth()),
    ],
    [
      "PublishStagingVersion: idempotency_key with a space",
      "idempotency_key",
      () => releases().publishStagingVersion({ project: p(), slug: fixture, idempotencyKey: "key 1" }, auth()),
    ],
    [
      "PublishStagingVersion: idempotency_key over 128 characters",
      "idempotency_key",
      () => releases().publishStagingVersion({ project: p(), slug: fixture, idempotencyKey: long(129) }, auth()),
    ],
    [
      "PublishStagingVersion: idempotency_key with a slash",
      "idempotency_key",
      () => releases().publishStagingVersion({ project: p(), slug: fixture, idempotencyKey: "a/b" }, auth()),
    ],

    ...slugCases("ListReleases", (slug) => releases().listReleases({ project: p(), slug }, auth())),
    ["ListReleases: bad project", "project", () => releases().listReleases({ project: "BAD", slug: fixture }, auth())],
    ["ListReleases: negative page_size", "page_size", () => releases().listReleases({ project: p(), slug: fixture, pageSize: -1 }, auth())],
    [
      "ListReleases: page token of another toolset",
      "page_token",
      () => releases().listReleases({ project: p(), slug: fixture, pageToken: tokens.releasesOfSecond }, auth()),
    ],
    [
      "ListReleases: page token of ListReleaseEvents",
      "page_token",
      () => releases().listReleases({ project: p(), slug: second, pageToken: tokens.eventsOfSecond }, auth()),
    ],
    [
      "ListReleases: garbled page token",
      "page_token",
      () => releases().listReleases({ project: p(), slug: fixture, pageToken: "not-a-token" }, auth()),
    ],
    [
      "ListReleases: edited page token",
      "page_token",
      () =>
        releases().listReleases(
          { project: p(), slug: fixture, pageToken: `${tokens.releasesOfFixture.slice(0, -1)}${tokens.releasesOfFixture.endsWith("A") ? "B" : "A"}` },
          auth(),
        ),
    ],

    ...slugCases("GetRelease", (slug) => releases().getRelease({ project: p(), slug, releaseNumber: 1n }, auth())),
    ["GetRelease: bad project", "project", () => releases().getRelease({ project: "BAD", slug: fixture, releaseNumber: 1n }, auth())],
    ["GetRelease: release_number 0", "release_number", () => releases().getRelease({ project: p(), slug: fixture, releaseNumber: 0n }, auth())],
    [
      "GetRelease: negative release_number",
      "release_number",
      () => releases().getRelease({ project: p(), slug: fixture, releaseNumber: -1n }, auth()),
    ],

    ...slugCases("RollbackToRelease", (slug) => releases().rollbackToRelease({ project: p(), slug, releaseNumber: 1n }, auth())),
    ["RollbackToRelease: bad project", "project", () => releases().rollbackToRelease({ project: "BAD", slug: fixture, releaseNumber: 1n }, auth())],
    [
      "RollbackToRelease: release_number 0",
      "release_number",
      () => releases().rollbackToRelease({ project: p(), slug: fixture, releaseNumber: 0n }, auth()),
    ],
    [
      "RollbackToRelease: negative release_number",
      "release_number",
      () => releases().rollbackToRelease({ project: p(), slug: fixture, releaseNumber: -2n }, auth()),
    ],
    [
      "RollbackToRelease: reason over 4096 characters",
      "reason",
      () => releases().rollbackToRelease({ project: p(), slug: fixture, releaseNumber: 1n, reason: long(4097) }, auth()),
    ],

    ...slugCases("ListReleaseEvents", (slug) => releases().listReleaseEvents({ project: p(), slug }, auth())),
    ["ListReleaseEvents: bad project", "project", () => releases().listReleaseEvents({ project: "BAD", slug: fixture }, auth())],
    ["ListReleaseEvents: negative page_size", "page_size", () => releases().listReleaseEvents({ project: p(), slug: fixture, pageSize: -5 }, auth())],
    [
      "ListReleaseEvents: page token of another toolset",
      "page_token",
      () => releases().listReleaseEvents({ project: p(), slug: fixture, pageToken: tokens.eventsOfSecond }, auth()),
    ],
    [
      "ListReleaseEvents: page token of ListReleases",
      "page_token",
      () => releases().listReleaseEvents({ project: p(), slug: second, pageToken: tokens.releasesOfSecond }, auth()),
    ],

    ...slugCases("DiffReleases", (slug) => releases().diffReleases({ project: p(), slug, from: ref(1n), to: ref(Target.LIVE) }, auth())),
    [
      "DiffReleases: bad project",
      "project",
      () => releases().diffReleases({ project: "BAD", slug: fixture, from: ref(1n), to: ref(Target.LIVE) }, auth()),
    ],
    ["DiffReleases: missing from", "from", () => releases().diffReleases({ project: p(), slug: fixture, to: ref(Target.LIVE) }, auth())],
    ["DiffReleases: empty from", "from", () => releases().diffReleases({ project: p(), slug: fixture, from: {}, to: ref(Target.LIVE) }, auth())],
    ["DiffReleases: missing to", "to", () => releases().diffReleases({ project: p(), slug: fixture, from: ref(1n) }, auth())],
    [
      "DiffReleases: from.release_number 0",
      "from.release_number",
      () => releases().diffReleases({ project: p(), slug: fixture, from: ref(0n), to: ref(Target.LIVE) }, auth()),
    ],
    [
      "DiffReleases: negative to.release_number",
      "to.release_number",
      () => releases().diffReleases({ project: p(), slug: fixture, from: ref(1n), to: ref(-1n) }, auth()),
    ],
    [
      "DiffReleases: to.target 99",
      "to.target",
      () => releases().diffReleases({ project: p(), slug: fixture, from: ref(1n), to: ref(99 as Target) }, auth()),
    ],
    [
      "DiffReleases: from.target 99",
      "from.target",
      () => releases().diffReleases({ project: p(), slug: fixture, from: ref(99 as Target), to: ref(1n) }, auth()),
    ],

    ...slugCases("ResolveToolset", (slug) => releases().resolveToolset({ project: p(), slug, target: Target.STAGING }, auth())),
    ["ResolveToolset: bad project", "project", () => releases().resolveToolset({ project: "BAD", slug: fixture }, auth())],
    ["ResolveToolset: target 99", "target", () => releases().resolveToolset({ project: p(), slug: fixture, target: 99 as Target }, auth())],
    [
      "ResolveToolset: TARGET_STAGING with release_number",
      "target",
      () => releases().resolveToolset({ project: p(), slug: fixture, target: Target.STAGING, releaseNumber: 1n }, auth()),
    ],
    [
      "ResolveToolset: TARGET_LIVE with release_number",
      "target",
      () => releases().resolveToolset({ project: p(), slug: fixture, target: Target.LIVE, releaseNumber: 1n }, auth()),
    ],
    [
      "ResolveToolset: negative release_number",
      "release_number",
      () => releases().resolveToolset({ project: p(), slug: fixture, releaseNumber: -1n }, auth()),
    ],
    [
      "ResolveToolset: if_none_match over 128 characters",
      "if_none_match",
      () => releases().resolveToolset({ project: p(), slug: fixture, ifNoneMatch: long(129) }, auth()),
    ],
  ];

  it.each(cases)("%s → names %s", async (_name, field, call) => {
    const before = { counts: await rowCounts(), fixture: await toolsetState(fixture), second: await toolsetState(second) };
    const err = await failure(call());
    expect(err.code).toBe(Code.InvalidArgument);
    // The message starts with the field, then says the rule.
    expect(err.message.startsWith(`${field}: `)).toBe(true);
    expect(err.message.length).toBeGreaterThan(field.length + 2);
    expect({ counts: await rowCounts(), fixture: await toolsetState(fixture), second: await toolsetState(second) }).toEqual(before);
  });
});

describe("errors of state", () => {
  it("PublishStagingVersion of a toolset in iteration mode → FAILED_PRECONDITION; nothing written", async () => {
    const slug = uniqueSlug("iter");
    await main.deploy([tool("a"), tool("b"), tool("c")]);
    await main.createToolset(slug, ["a"]);
    const before = await toolsetState(slug);
    const err = await failure(main.publish(slug, "nothing to see"));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.message).toMatch(/iteration mode/);
    expect(await toolsetState(slug)).toEqual(before);
    expect(before.releases).toEqual([]);
  });

  it("after DiscardStagingVersion: publish → FAILED_PRECONDITION naming the staging copy; discard, GetStagingVersion and TARGET_STAGING → NOT_FOUND", async () => {
    const slug = uniqueSlug("disc");
    await main.deploy([tool("a"), tool("b"), tool("c")]);
    await main.staged(slug, ["a"]);
    await main.editStaging(slug, { toolUrns: [urn("a"), urn("b")] });
    const live = await main.resolve(slug);
    await main.discard(slug);
    const before = await toolsetState(slug);
    expect(before.rows.filter((r) => r.parent_toolset_id !== null).map((r) => r.deleted_at === null)).toEqual([false]);

    const err = await failure(main.publish(slug, "nothing staged"));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.message).toMatch(/staging copy/);
    const again = await failure(main.discard(slug));
    expect(again.code).toBe(Code.NotFound);
    expect(again.message).toMatch(/staging copy/);
    expect(await outcome(main.stagingCopy(slug))).toBe(Code.NotFound);
    expect(await outcome(main.resolve(slug, Target.STAGING))).toBe(Code.NotFound);
    expect(await outcome(main.diff(slug, Target.LIVE, Target.STAGING))).toBe(Code.NotFound);
    // The live toolset, its releases and events are untouched by the discard.
    expect(await toolsetState(slug)).toEqual(before);
    expect((await main.resolve(slug)).etag).toBe(live.etag);
    expect((await main.live(slug)).currentReleaseNumber).toBe(1n);
  });

  it("CreateStagingVersion: ALREADY_EXISTS when a copy exists, FAILED_PRECONDITION in iteration mode", async () => {
    const slug = uniqueSlug("dup");
    await main.deploy([tool("a"), tool("b"), tool("c")]);
    await main.staged(slug, ["a"]);
    const before = await toolsetState(slug);
    const exists = await failure(toolsets().createStagingVersion({ project: main.project, slug }, auth()));
    expect(exists.code).toBe(Code.AlreadyExists);
    expect(exists.message).toMatch(/staging copy/);
    expect(await toolsetState(slug)).toEqual(before);

    const iter = uniqueSlug("iter");
    await main.createToolset(iter, ["a"]);
    const iterBefore = await toolsetState(iter);
    const wrongMode = await failure(toolsets().createStagingVersion({ project: main.project, slug: iter }, auth()));
    expect(wrongMode.code).toBe(Code.FailedPrecondition);
    expect(wrongMode.message).toMatch(/iteration mode/);
    expect(await toolsetState(iter)).toEqual(iterBefore);
  });

  it("CreateStagingVersion after a discard recreates the copy from the current release, not from the discarded copy", async () => {
    const slug = uniqueSlug("recreate");
    await main.deploy([tool("a"), tool("b"), tool("c")]);
    const live = await main.staged(slug, ["a"]);
    await main.stagingVariation(slug, "a", "published variation");
    await main.editStaging(slug, { name: "Released", description: "released", toolUrns: [urn("a"), urn("b")] });
    await main.publish(slug, "two");
    const oldCopy = await main.editStaging(slug, { name: "Unpublished", toolUrns: [urn("c")] });
    await main.stagingVariation(slug, "a", "unpublished variation");
    expect(oldCopy.version).toBeGreaterThan(1n);

    await main.discard(slug);
    const { toolset: copy } = await toolsets().createStagingVersion({ project: main.project, slug }, auth());
    const current = await main.live(slug);
    expect(copy).toMatchObject({
      isStaging: true,
      parentToolsetId: live.id,
      slug,
      version: 1n,
      name: "Released",
      description: "released",
      toolUrns: [urn("a"), urn("b")],
    });
    expect(copy?.id).not.toBe(oldCopy.id);
    expect([copy?.name, copy?.description, copy?.toolUrns, copy?.promptTemplateNames]).toEqual([
      current.name,
      current.description,
      current.toolUrns,
      current.promptTemplateNames,
    ]);
    expect(await main.stagingCopy(slug)).toEqual(copy);

    // The staging target serves exactly what live serves, variations included.
    const liveResolved = await main.resolve(slug);
    const staged = await main.resolve(slug, Target.STAGING);
    expect(staged.etag).toBe(liveResolved.etag);
    expect(staged.tools.map((t) => [t.urn, t.description])).toEqual([
      [urn("a"), "published variation"],
      [urn("b"), "b from source"],
    ]);
    expect(await main.diff(slug, Target.LIVE, Target.STAGING)).toEqual([]);
    // Nothing to publish, and switching back needs no discard.
    expect((await failure(main.publish(slug))).code).toBe(Code.FailedPrecondition);
    expect((await main.switchMode(slug, EditingMode.ITERATION)).editingMode).toBe(EditingMode.ITERATION);
  });

  it("iteration mode: GetStagingVersion, DiscardStagingVersion and TARGET_STAGING → NOT_FOUND; RollbackToRelease → FAILED_PRECONDITION", async () => {
    const fresh = uniqueSlug("fresh");
    const back = uniqueSlug("back");
    await main.deploy([tool("a"), tool("b"), tool("c")]);
    await main.createToolset(fresh, ["a"]);
    // A toolset that was in staging mode has releases, but still cannot roll back once in iteration mode.
    await main.staged(back, ["a"]);
    await main.editStaging(back, { toolUrns: [urn("b")] });
    await main.publish(back);
    await main.switchMode(back, EditingMode.ITERATION);

    for (const slug of [fresh, back]) {
      const before = await toolsetState(slug);
      expect(await outcome(main.stagingCopy(slug))).toBe(Code.NotFound);
      expect(await outcome(main.discard(slug))).toBe(Code.NotFound);
      expect(await outcome(main.resolve(slug, Target.STAGING))).toBe(Code.NotFound);
      const rollback = await failure(main.rollback(slug, 1n, "why not"));
      expect(rollback.code).toBe(Code.FailedPrecondition);
      expect(rollback.message).toMatch(/iteration mode/);
      expect(await toolsetState(slug)).toEqual(before);
    }
    // Its releases stay readable and resolvable by number.
    expect((await main.listReleases(back)).releases.map((r) => r.releaseNumber)).toEqual([2n, 1n]);
    expect((await main.resolve(back, Target.UNSPECIFIED, 2n)).tools.map((t) => t.urn)).toEqual([urn("b")]);
  });

  const unknown = "no-such-toolset";
  const unknownCases: [string, () => Promise<unknown>][] = [
    ["SwitchEditingMode", () => toolsets().switchEditingMode({ project: tenant.project, slug: unknown, mode: EditingMode.STAGING }, auth())],
    ["CreateStagingVersion", () => toolsets().createStagingVersion({ project: tenant.project, slug: unknown }, auth())],
    ["GetStagingVersion", () => toolsets().getStagingVersion({ project: tenant.project, slug: unknown }, auth())],
    ["DiscardStagingVersion", () => toolsets().discardStagingVersion({ project: tenant.project, slug: unknown }, auth())],
    ["PublishStagingVersion", () => releases().publishStagingVersion({ project: tenant.project, slug: unknown }, auth())],
    ["ListReleases", () => releases().listReleases({ project: tenant.project, slug: unknown }, auth())],
    ["GetRelease", () => releases().getRelease({ project: tenant.project, slug: unknown, releaseNumber: 1n }, auth())],
    ["RollbackToRelease", () => releases().rollbackToRelease({ project: tenant.project, slug: unknown, releaseNumber: 1n }, auth())],
    ["ListReleaseEvents", () => releases().listReleaseEvents({ project: tenant.project, slug: unknown }, auth())],
    [
      "DiffReleases",
      () => releases().diffReleases({ project: tenant.project, slug: unknown, from: ref(Target.LIVE), to: ref(Target.STAGING) }, auth()),
    ],
    ["ResolveToolset (TARGET_LIVE)", () => releases().resolveToolset({ project: tenant.project, slug: unknown }, auth())],
    ["ResolveToolset (TARGET_STAGING)", () => releases().resolveToolset({ project: tenant.project, slug: unknown, target: Target.STAGING }, auth())],
    ["ResolveToolset (release_number)", () => releases().resolveToolset({ project: tenant.project, slug: unknown, releaseNumber: 1n }, auth())],
  ];

  it.each(unknownCases)("%s of an unknown toolset slug → NOT_FOUND", async (_name, call) => {
    const before = await rowCounts();
    const err = await failure(call());
    expect(err.code).toBe(Code.NotFound);
    expect(err.message).toContain(unknown);
    expect(await rowCounts()).toEqual(before);
  });

  it("GetRelease, RollbackToRelease, ResolveToolset and DiffReleases of a release number the toolset does not have → NOT_FOUND", async () => {
    const before = await toolsetState(fixture);
    expect(await outcome(main.getRelease(fixture, 3n))).toBe(Code.NotFound);
    expect(await outcome(main.rollback(fixture, 3n))).toBe(Code.NotFound);
    expect(await outcome(main.resolve(fixture, Target.UNSPECIFIED, 3n))).toBe(Code.NotFound);
    expect(await outcome(main.diff(fixture, 3n, Target.LIVE))).toBe(Code.NotFound);
    expect(await toolsetState(fixture)).toEqual(before);
  });
});

describe("pagination of ListReleases and ListReleaseEvents", () => {
  let slug: string;
  const expectedEvents = [
    [ReleaseEventKind.ROLLED_BACK, 5n, 3n],
    [ReleaseEventKind.PUBLISHED, 4n, 5n],
    [ReleaseEventKind.PUBLISHED, 3n, 4n],
    [ReleaseEventKind.PUBLISHED, 2n, 3n],
    [ReleaseEventKind.PUBLISHED, 1n, 2n],
    [ReleaseEventKind.MODE_SWITCHED, 0n, 1n],
  ];

  beforeAll(async () => {
    // Releases 1–5, then a rollback to 3: five releases, six events.
    slug = uniqueSlug("pages");
    const names = ["a", "b", "c", "d", "e"];
    await main.deploy(names.map((n) => tool(n)));
    await main.staged(slug, ["a"]);
    for (let i = 2; i <= 5; i++) {
      await main.editStaging(slug, { toolUrns: names.slice(0, i).map(urn) });
      await main.publish(slug, `release ${i}`);
    }
    await main.rollback(slug, 3n, "back to three");
  });

  it.each([1, 2, 500, 1000])("ListReleases in pages of %i: newest first, no gap, no duplicate", async (size) => {
    const pages = await allPages(async (token) => {
      const page = await main.listReleases(slug, size, token);
      return { items: page.releases, nextPageToken: page.nextPageToken };
    });
    expect(pages.map((p) => p.length)).toEqual(pageLengths(5, Math.min(size, 500)));
    const all = pages.flat();
    expect(all.map((r) => r.releaseNumber)).toEqual([5n, 4n, 3n, 2n, 1n]);
    expect(new Set(all.map((r) => r.id)).size).toBe(5);
    expect(all.map((r) => r.isCurrent)).toEqual([false, false, true, false, false]);
    expect(all[0]?.notes).toBe("release 5");
  });

  it.each([1, 2, 500, 1000])("ListReleaseEvents in pages of %i: newest first, no gap, no duplicate", async (size) => {
    const pages = await allPages(async (token) => {
      const page = await main.listEvents(slug, size, token);
      return { items: page.events, nextPageToken: page.nextPageToken };
    });
    expect(pages.map((p) => p.length)).toEqual(pageLengths(6, Math.min(size, 500)));
    const all = pages.flat();
    expect(all.map(eventSummary)).toEqual(expectedEvents);
    expect(new Set(all.map((e) => e.id)).size).toBe(6);
    expect(all[0]?.notes).toBe("back to three");
    const times = all.map((e) => e.createdAt!.seconds * 1_000_000_000n + BigInt(e.createdAt!.nanos));
    expect([...times].sort((x, y) => (x > y ? -1 : x < y ? 1 : 0))).toEqual(times);
  });

  it("the default page size returns everything here in one page", async () => {
    const list = await main.listReleases(slug);
    expect(list.releases.map((r) => r.releaseNumber)).toEqual([5n, 4n, 3n, 2n, 1n]);
    expect(list.nextPageToken).toBe("");
    const events = await main.listEvents(slug);
    expect(events.events.map(eventSummary)).toEqual(expectedEvents);
    expect(events.nextPageToken).toBe("");
  });

  it("a publish between pages neither repeats nor skips a release", async () => {
    const s = uniqueSlug("moving");
    await main.deploy(["a", "b", "c", "d", "e"].map((n) => tool(n)));
    await main.staged(s, ["a"]);
    await main.editStaging(s, { toolUrns: [urn("a"), urn("b")] });
    await main.publish(s);
    await main.editStaging(s, { toolUrns: [urn("a"), urn("b"), urn("c")] });
    await main.publish(s);
    const first = await main.listReleases(s, 2);
    expect(first.releases.map((r) => r.releaseNumber)).toEqual([3n, 2n]);
    await main.editStaging(s, { toolUrns: [urn("d")] });
    await main.publish(s);
    const rest = await main.listReleases(s, 2, first.nextPageToken);
    expect(rest.releases.map((r) => r.releaseNumber)).toEqual([1n]);
    expect(rest.nextPageToken).toBe("");

    const firstEvents = await main.listEvents(s, 2);
    await main.rollback(s, 1n);
    const restEvents = await main.listEvents(s, 2, firstEvents.nextPageToken);
    expect([...firstEvents.events, ...restEvents.events].map(eventSummary)).toEqual([
      [ReleaseEventKind.PUBLISHED, 3n, 4n],
      [ReleaseEventKind.PUBLISHED, 2n, 3n],
      [ReleaseEventKind.PUBLISHED, 1n, 2n],
      [ReleaseEventKind.MODE_SWITCHED, 0n, 1n],
    ]);
  });
});

describe("what a release records", () => {
  it("GetRelease returns the captured ids, tool_urns, is_current and the etag ResolveToolset serves for it; equal sources share one source state", async () => {
    // An organization of its own: no global variations but the ones made here.
    const a = main.with({ tenant: await createTenant(server.db) });
    const slug = uniqueSlug("ids");
    const d1 = await a.deploy([tool("a"), tool("b")]);
    await a.upsertPrompt("greet", "hello, v1");
    await a.createToolset(slug, ["a", "b"], ["greet"]);

    /** Publishes (or, for release 1, switches) and checks what any release must satisfy. */
    const release = async (number: bigint, publish: () => Promise<unknown>) => {
      const staged = number === 1n ? await a.resolve(slug) : await a.resolve(slug, Target.STAGING);
      await publish();
      const r = await a.getRelease(slug, number);
      expect(r.releaseNumber).toBe(number);
      expect(r.isCurrent).toBe(true);
      expect(r.toolsetId).toBe((await a.live(slug)).id);
      expect(r.sourceStateId).toMatch(UUID);
      expect(r.systemSourceStateId).toMatch(UUID);
      expect(r.toolsetVersionId).toMatch(UUID);
      expect(r.deploymentId).toBe((await server.client(SourceService).getDeployment({ project: a.project }, a.key)).deployment?.id);
      expect(r.etag).toBe(staged.etag);
      expect(r.etag).toBe((await a.resolve(slug)).etag);
      expect(r.etag).toBe((await a.resolve(slug, Target.UNSPECIFIED, number)).etag);
      expect(r.releasedBy).not.toBe("");
      return r;
    };

    const r1 = await release(1n, () => a.switchMode(slug, EditingMode.STAGING));
    expect(r1).toMatchObject({
      deploymentId: d1.id,
      globalVariationsVersionId: "",
      toolsetVariationsVersionId: "",
      toolUrns: [urn("a"), urn("b")],
      notes: "",
    });

    // Same deployment and prompts: the source state is shared.
    await a.editStaging(slug, { name: "Renamed", toolUrns: [urn("a")] });
    const r2 = await release(2n, () => a.publish(slug, "renamed"));
    expect(r2).toMatchObject({
      sourceStateId: r1.sourceStateId,
      systemSourceStateId: r1.systemSourceStateId,
      deploymentId: d1.id,
      toolUrns: [urn("a")],
      notes: "renamed",
    });
    expect(r2.toolsetVersionId).not.toBe(r1.toolsetVersionId);
    expect(r2.globalVariationsVersionId).toBe("");
    expect(r2.toolsetVariationsVersionId).toBe("");
    expect((await a.getRelease(slug, 1n)).isCurrent).toBe(false);

    // A toolset variation: its group version is recorded.
    await toolsets().upsertToolVariation(
      { project: a.project, scope: { toolsetSlug: slug, staging: true }, variation: { srcToolUrn: urn("a"), title: "Toolset title" } },
      a.key,
    );
    const r3 = await release(3n, () => a.publish(slug));
    expect(r3.toolsetVariationsVersionId).toMatch(UUID);
    expect(r3.globalVariationsVersionId).toBe("");
    expect(r3.sourceStateId).toBe(r1.sourceStateId);

    // A global variation: recorded too; the toolset's own variations did not change.
    await a.globalVariation("a", "globally said");
    const r4 = await release(4n, () => a.publish(slug));
    expect(r4.globalVariationsVersionId).toMatch(UUID);
    expect(r4.toolsetVariationsVersionId).toBe(r3.toolsetVariationsVersionId);
    expect(r4.sourceStateId).toBe(r1.sourceStateId);

    // A new deployment: a new source state over the same prompts.
    const d2 = await a.deploy([tool("a", { description: "a, redeployed" }), tool("b")]);
    await a.globalVariation("a", "globally said again");
    const r5 = await release(5n, () => a.publish(slug));
    expect(r5.deploymentId).toBe(d2.id);
    expect(r5.sourceStateId).not.toBe(r4.sourceStateId);
    expect(r5.systemSourceStateId).toBe(r4.systemSourceStateId);
    expect(r5.globalVariationsVersionId).not.toBe(r4.globalVariationsVersionId);

    // A new prompt revision: a new system source state and source state, same deployment.
    await a.upsertPrompt("greet", "hello, v2");
    const r6 = await release(6n, () => a.publish(slug));
    expect(r6.deploymentId).toBe(d2.id);
    expect(r6.systemSourceStateId).not.toBe(r5.systemSourceStateId);
    expect(r6.sourceStateId).not.toBe(r5.sourceStateId);

    // Read back later, every release is as it was published, and only the last is current.
    const all = (await a.listReleases(slug)).releases;
    expect(all.map((r) => r.releaseNumber)).toEqual([6n, 5n, 4n, 3n, 2n, 1n]);
    for (const [i, r] of [r6, r5, r4, r3, r2, r1].entries()) {
      expect(all[i]).toEqual({ ...r, isCurrent: i === 0 });
      expect(await a.getRelease(slug, r.releaseNumber)).toEqual(all[i]);
      expect((await a.resolve(slug, Target.UNSPECIFIED, r.releaseNumber)).etag).toBe(r.etag);
    }
    // Each release pins its own sources.
    expect((await a.resolve(slug, Target.UNSPECIFIED, 4n)).tools[0]).toMatchObject({ title: "Toolset title", description: "globally said" });
    expect((await a.resolve(slug, Target.UNSPECIFIED, 2n)).tools[0]?.description).toBe("a from source");
    expect((await a.resolve(slug, Target.UNSPECIFIED, 6n)).prompts[0]?.prompt).toBe("hello, v2");
    expect((await a.resolve(slug, Target.UNSPECIFIED, 5n)).prompts[0]?.prompt).toBe("hello, v1");

    // Another toolset of the project released over the same sources shares the source state.
    const sibling = uniqueSlug("same-sources");
    await a.staged(sibling, ["b"], ["greet"]);
    expect((await a.getRelease(sibling, 1n)).sourceStateId).toBe(r6.sourceStateId);
  });

  it("PublishStagingVersion returns the release GetRelease returns", async () => {
    const slug = uniqueSlug("echo");
    await main.deploy([tool("a"), tool("b"), tool("c")]);
    await main.staged(slug, ["a"]);
    await main.editStaging(slug, { toolUrns: [urn("a"), urn("c")] });
    const published = await main.publish(slug, "with c");
    expect(await main.getRelease(slug, 2n)).toEqual(published);
    expect(published.toolUrns).toEqual([urn("a"), urn("c")]);
  });
});

describe("deleting a toolset in staging mode", () => {
  it("soft-deletes the staging copy; releases and events stay readable by slug; resolving is NOT_FOUND; a new toolset with the slug has its own history", async () => {
    const slug = uniqueSlug("del");
    await main.deploy([tool("a"), tool("b"), tool("c")]);
    const live = await main.staged(slug, ["a"]);
    await main.editStaging(slug, { toolUrns: [urn("a"), urn("b")] });
    await main.publish(slug, "adds b");
    const copy = await main.stagingCopy(slug);
    const releasesBefore = (await main.listReleases(slug)).releases;
    const eventsBefore = (await main.listEvents(slug)).events;

    await toolsets().deleteToolset({ project: main.project, slug }, auth());

    const rows = await server.db.selectFrom("toolsets").select(["id", "deleted_at"]).where("id", "in", [live.id, copy.id]).execute();
    expect(rows).toHaveLength(2);
    expect(rows.every((r) => r.deleted_at !== null)).toBe(true);
    expect(await outcome(main.stagingCopy(slug))).toBe(Code.NotFound);
    expect(await outcome(toolsets().getToolset({ project: main.project, slug, staging: true }, auth()))).toBe(Code.NotFound);

    // The history reads as before, with a consumer key too.
    const readable = (r: { id: string; releaseNumber: bigint; toolsetId: string; etag: string; notes: string; toolUrns: string[] }) => [
      r.id,
      r.releaseNumber,
      r.toolsetId,
      r.etag,
      r.notes,
      r.toolUrns,
    ];
    expect((await main.listReleases(slug)).releases.map(readable)).toEqual(releasesBefore.map(readable));
    const consumerList = await releases().listReleases({ project: main.project, slug }, bearer(tenant.consumerKey));
    expect(consumerList.releases.map(readable)).toEqual(releasesBefore.map(readable));
    expect(readable(await main.getRelease(slug, 1n))).toEqual(readable(releasesBefore[1]!));
    expect((await main.listEvents(slug)).events).toEqual(eventsBefore);
    expect((await main.listReleases(slug, 1)).releases.map((r) => r.releaseNumber)).toEqual([2n]);
    expect(await outcome(main.getRelease(slug, 3n))).toBe(Code.NotFound);

    // It serves nothing and accepts no writes.
    expect(await outcome(main.resolve(slug))).toBe(Code.NotFound);
    expect(await outcome(main.resolve(slug, Target.STAGING))).toBe(Code.NotFound);
    expect(await outcome(main.resolve(slug, Target.UNSPECIFIED, 1n))).toBe(Code.NotFound);
    expect(await outcome(main.publish(slug))).toBe(Code.NotFound);
    expect(await outcome(main.rollback(slug, 1n))).toBe(Code.NotFound);
    expect(await outcome(main.switchMode(slug, EditingMode.ITERATION, true))).toBe(Code.NotFound);
    expect(await outcome(toolsets().createStagingVersion({ project: main.project, slug }, auth()))).toBe(Code.NotFound);

    // A new toolset with the slug starts with an empty history of its own.
    const again = await main.createToolset(slug, ["b"]);
    expect(again.id).not.toBe(live.id);
    expect(await main.listReleases(slug)).toMatchObject({ releases: [], nextPageToken: "" });
    expect(await main.listEvents(slug)).toMatchObject({ events: [], nextPageToken: "" });
    expect(await outcome(main.getRelease(slug, 1n))).toBe(Code.NotFound);
    await main.switchMode(slug, EditingMode.STAGING);
    const own = (await main.listReleases(slug)).releases;
    expect(own.map((r) => [r.releaseNumber, r.toolsetId, r.toolUrns])).toEqual([[1n, again.id, [urn("b")]]]);
    expect((await main.listEvents(slug)).events.map(eventSummary)).toEqual([[ReleaseEventKind.MODE_SWITCHED, 0n, 1n]]);
    // The deleted toolset's releases are still stored.
    const kept = await server.db
      .selectFrom("toolset_releases")
      .select("release_number")
      .where("toolset_id", "=", live.id)
      .orderBy("release_number")
      .execute();
    expect(kept.map((r) => r.release_number)).toEqual([1n, 2n]);
  });

  it("when several deleted toolsets had the slug, the history read is the most recently deleted one's", async () => {
    const slug = uniqueSlug("gens");
    await main.deploy([tool("a"), tool("b"), tool("c")]);
    await main.staged(slug, ["a"]);
    await main.editStaging(slug, { toolUrns: [urn("b")] });
    await main.publish(slug, "first generation");
    await toolsets().deleteToolset({ project: main.project, slug }, auth());
    const latest = await main.staged(slug, ["c"]);
    await toolsets().deleteToolset({ project: main.project, slug }, auth());

    const list = (await main.listReleases(slug)).releases;
    expect(list.map((r) => [r.releaseNumber, r.toolsetId, r.toolUrns])).toEqual([[1n, latest.id, [urn("c")]]]);
    expect((await main.getRelease(slug, 1n)).toolsetId).toBe(latest.id);
    expect(await outcome(main.getRelease(slug, 2n))).toBe(Code.NotFound);
    expect((await main.listEvents(slug)).events.map(eventSummary)).toEqual([[ReleaseEventKind.MODE_SWITCHED, 0n, 1n]]);
  });
});

describe("gRPC", () => {
  it("switch, staging copy, diff, publish, list, get, resolve, rollback and events all work over gRPC", async () => {
    const ts = server.client(ToolsetService, "grpc");
    const rs = server.client(ReleaseService, "grpc");
    const project = tenant.project;
    const key = auth();
    const slug = uniqueSlug("grpc");
    await server.client(SourceService, "grpc").createDeployment({ project, tools: [tool("a"), tool("b")] }, key);
    const created = (await ts.createToolset({ project, name: slug, slug, toolUrns: [urn("a")] }, key)).toolset!;

    const switched = (await ts.switchEditingMode({ project, slug, mode: EditingMode.STAGING }, key)).toolset!;
    expect([switched.editingMode, switched.currentReleaseNumber]).toEqual([EditingMode.STAGING, 1n]);
    const copy = (await ts.getStagingVersion({ project, slug }, key)).toolset!;
    expect([copy.isStaging, copy.parentToolsetId]).toEqual([true, created.id]);
    await ts.discardStagingVersion({ project, slug }, key);
    const recreated = (await ts.createStagingVersion({ project, slug }, key)).toolset!;
    expect([recreated.version, recreated.toolUrns]).toEqual([1n, [urn("a")]]);

    await ts.updateToolset({ project, slug, staging: true, fields: { toolUrns: [urn("a"), urn("b")] }, updateMask: { paths: ["tool_urns"] } }, key);
    const changes = (await rs.diffReleases({ project, slug, from: ref(Target.LIVE), to: ref(Target.STAGING) }, key)).changes;
    expect(changes.map((c) => [c.kind, c.toolUrn, c.breaking])).toEqual([[ChangeKind.TOOL_ADDED, urn("b"), false]]);
    const staged = (await rs.resolveToolset({ project, slug, target: Target.STAGING }, key)).resolved!;

    const release = (await rs.publishStagingVersion({ project, slug, notes: "over gRPC", idempotencyKey: "grpc:1" }, key)).release!;
    expect([release.releaseNumber, release.isCurrent, release.etag]).toEqual([2n, true, staged.etag]);
    expect((await rs.publishStagingVersion({ project, slug, notes: "over gRPC", idempotencyKey: "grpc:1" }, key)).release?.id).toBe(release.id);
    expect((await rs.listReleases({ project, slug }, key)).releases.map((r) => r.releaseNumber)).toEqual([2n, 1n]);
    expect((await rs.getRelease({ project, slug, releaseNumber: 2n }, key)).release).toEqual(release);
    const live = (await rs.resolveToolset({ project, slug }, key)).resolved!;
    expect([live.releaseNumber, live.etag, live.tools.map((t) => t.urn)]).toEqual([2n, release.etag, [urn("a"), urn("b")]]);

    const rolled = (await rs.rollbackToRelease({ project, slug, releaseNumber: 1n, reason: "undo over gRPC" }, key)).toolset!;
    expect([rolled.currentReleaseNumber, rolled.toolUrns]).toEqual([1n, [urn("a")]]);
    expect((await rs.resolveToolset({ project, slug, releaseNumber: 2n }, key)).resolved?.etag).toBe(release.etag);
    const events = (await rs.listReleaseEvents({ project, slug, pageSize: 2 }, key)).events;
    expect(events.map((e) => [e.kind, e.notes])).toEqual([
      [ReleaseEventKind.ROLLED_BACK, "undo over gRPC"],
      [ReleaseEventKind.PUBLISHED, "over gRPC"],
    ]);

    // Errors keep their codes and messages over gRPC.
    const invalid = await failure(rs.rollbackToRelease({ project, slug, releaseNumber: 0n }, key));
    expect([invalid.code, invalid.message.startsWith("release_number: ")]).toEqual([Code.InvalidArgument, true]);
    expect(await outcome(rs.publishStagingVersion({ project, slug }, bearer(tenant.consumerKey)))).toBe(Code.PermissionDenied);
    expect(await outcome(rs.getRelease({ project, slug, releaseNumber: 9n }, key))).toBe(Code.NotFound);
    expect(await outcome(ts.createStagingVersion({ project, slug }, key))).toBe(Code.AlreadyExists);

    const back = (await ts.switchEditingMode({ project, slug, mode: EditingMode.ITERATION, discardStaging: true }, key)).toolset!;
    expect([back.editingMode, back.currentReleaseNumber]).toEqual([EditingMode.ITERATION, 0n]);
  });
});

describe("hand-made page tokens", () => {
  // The checksum only catches accidents: a token built with the right format
  // passes it, so every list checks its cursor before it reaches a query.
  const lists: [string, (token: string) => Promise<unknown>, (id: string) => string][] = [
    ["ListReleases", (pageToken) => main.listReleases(fixture, 1, pageToken), (id) => `ListReleases:${id}`],
    ["ListReleaseEvents", (pageToken) => main.listEvents(fixture, 1, pageToken), (id) => `ListReleaseEvents:${id}`],
  ];
  it.each(lists)("%s: a cursor of the wrong shape → INVALID_ARGUMENT naming page_token", async (_name, list, scopeOf) => {
    const id = (await main.live(fixture)).id;
    for (const key of [["x"], [], ["1.5"], [1], ["1", "2"], ["00000000-0000-0000-0000-00000000000g"]]) {
      const err = await failure(list(encodePageToken(scopeOf(id), key)));
      expect([err.code, err.message.split(":")[0]]).toEqual([Code.InvalidArgument, "page_token"]);
    }
  });

  it("ListToolsets and ListDeployments check their cursors too", async () => {
    const project = (await server.db.selectFrom("projects").select("id").where("slug", "=", tenant.project).executeTakeFirstOrThrow()).id;
    const toolsetsErr = await failure(
      toolsets().listToolsets({ project: tenant.project, pageToken: encodePageToken(`ListToolsets:${project}`, [7]) }, auth()),
    );
    expect([toolsetsErr.code, toolsetsErr.message.split(":")[0]]).toEqual([Code.InvalidArgument, "page_token"]);
    const deploymentsErr = await failure(
      server
        .client(SourceService)
        .listDeployments({ project: tenant.project, pageToken: encodePageToken(`ListDeployments:${project}`, ["-1"]) }, auth()),
    );
    expect([deploymentsErr.code, deploymentsErr.message.split(":")[0]]).toEqual([Code.InvalidArgument, "page_token"]);
  });
});
