import type { JsonObject } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ChangeKind, ReleaseEventKind, Target } from "../gen/releases/v1/releases_pb.js";
import { EditingMode } from "../gen/toolsets/v1/toolsets_pb.js";
import { createTenant, httpTool as tool, uniqueSlug, urn } from "../server/testing/fixtures.js";
import { bearer, failure } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";

const { server, tenant, api } = useTestServer({ tenants: 1 });
const {
  auth,
  sources,
  toolsets,
  releases,
  deploy,
  createToolset,
  switchMode,
  staged,
  editStaging,
  publish,
  resolve,
  globalVariation,
  stagingVariation,
  diff,
} = api;

describe("staging flow", () => {
  it("create → switch to staging → staging copy → modify → publish → release created → live serves the change", async () => {
    const slug = uniqueSlug("flow");
    await deploy([tool("a"), tool("b")]);
    const created = await createToolset(slug, ["a"]);
    const before = await resolve(slug);

    const switched = await switchMode(slug, EditingMode.STAGING);
    expect(switched.editingMode).toBe(EditingMode.STAGING);
    expect(switched.currentReleaseNumber).toBe(1n);
    expect(switched.version).toBe(created.version);

    const copy = (await toolsets().getStagingVersion({ project: tenant.project, slug }, auth())).toolset!;
    expect(copy.isStaging).toBe(true);
    expect(copy.parentToolsetId).toBe(created.id);
    expect(copy.toolUrns).toEqual([urn("a")]);

    await editStaging(slug, { toolUrns: [urn("a"), urn("b")], description: "now with b" });
    // Not live yet.
    expect((await resolve(slug)).etag).toBe(before.etag);
    const staged = await resolve(slug, Target.STAGING);
    expect(staged.tools.map((t) => t.urn)).toEqual([urn("a"), urn("b")]);
    expect(staged.releaseNumber).toBe(0n);

    const release = await publish(slug, "adds b");
    expect(release.releaseNumber).toBe(2n);
    expect(release.isCurrent).toBe(true);
    expect(release.notes).toBe("adds b");
    expect(release.releasedBy).not.toBe("");
    expect(release.toolUrns).toEqual([urn("a"), urn("b")]);
    expect(release.etag).toBe(staged.etag);

    const live = await resolve(slug);
    expect(live.releaseNumber).toBe(2n);
    expect(live.etag).toBe(staged.etag);
    expect(live.description).toBe("now with b");
    expect(live.tools.map((t) => t.urn)).toEqual([urn("a"), urn("b")]);
    const row = (await toolsets().getToolset({ project: tenant.project, slug }, auth())).toolset!;
    expect(row.currentReleaseNumber).toBe(2n);
    expect(row.description).toBe("now with b");
    expect(row.toolUrns).toEqual([urn("a"), urn("b")]);

    const events = (await releases().listReleaseEvents({ project: tenant.project, slug }, auth())).events;
    expect(events.map((e) => [e.kind, e.fromReleaseNumber, e.toReleaseNumber, e.notes])).toEqual([
      [ReleaseEventKind.PUBLISHED, 1n, 2n, "adds b"],
      [ReleaseEventKind.MODE_SWITCHED, 0n, 1n, ""],
    ]);
  });

  it("publishing again without changes → FAILED_PRECONDITION, nothing written", async () => {
    const slug = uniqueSlug("same");
    await deploy([tool("a")]);
    await staged(slug, ["a"]);
    const err = await failure(publish(slug));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.message).toMatch(/no changes to publish/);
    expect((await releases().listReleases({ project: tenant.project, slug }, auth())).releases.map((r) => r.releaseNumber)).toEqual([1n]);
  });

  it("a retry with the same idempotency_key returns the original release", async () => {
    const slug = uniqueSlug("idem");
    await deploy([tool("a"), tool("b")]);
    await staged(slug, ["a"]);
    await editStaging(slug, { toolUrns: [urn("a"), urn("b")] });
    const first = await publish(slug, "once", "key-1");
    const again = await publish(slug, "once", "key-1");
    expect(again.id).toBe(first.id);
    expect(again.releaseNumber).toBe(2n);
    expect((await releases().listReleases({ project: tenant.project, slug }, auth())).releases).toHaveLength(2);
  });
});

describe("publish cost", () => {
  it("runs the same statements whether the toolset has 2 releases or 12", async () => {
    const slug = uniqueSlug("cost");
    await deploy([tool("a")]);
    await staged(slug, ["a"]);
    const statementsOfPublish = async (n: number) => {
      await editStaging(slug, { description: `edit ${n}` });
      server.queries.length = 0;
      const release = await publish(slug);
      expect(release.releaseNumber).toBe(BigInt(n));
      return [...server.queries];
    };
    const early = await statementsOfPublish(2);
    for (let n = 3; n < 12; n++) await statementsOfPublish(n);
    const late = await statementsOfPublish(12);
    expect(late).toEqual(early);
    expect(early.length).toBeLessThan(30);
  });
});

describe("switching modes", () => {
  it("switching to staging leaves the live etag unchanged and copies the toolset's variations", async () => {
    const slug = uniqueSlug("etag");
    await deploy([tool("a"), tool("b")]);
    await createToolset(slug, ["a", "b"]);
    await toolsets().upsertToolVariation(
      { project: tenant.project, scope: { toolsetSlug: slug }, variation: { srcToolUrn: urn("a"), title: "A!" } },
      auth(),
    );
    const before = await resolve(slug);
    await switchMode(slug, EditingMode.STAGING);
    const after = await resolve(slug);
    expect(after.etag).toBe(before.etag);
    expect(after.releaseNumber).toBe(1n);
    expect((await resolve(slug, Target.STAGING)).etag).toBe(before.etag);
    const release = (await releases().getRelease({ project: tenant.project, slug, releaseNumber: 1n }, auth())).release!;
    expect(release.etag).toBe(before.etag);
    // A second switch is a no-op.
    expect((await switchMode(slug, EditingMode.STAGING)).currentReleaseNumber).toBe(1n);
    expect((await releases().listReleases({ project: tenant.project, slug }, auth())).releases).toHaveLength(1);
  });

  it("switching back with unpublished staged changes fails unless discard_staging is set", async () => {
    const slug = uniqueSlug("back");
    await deploy([tool("a"), tool("b")]);
    await staged(slug, ["a"]);
    await stagingVariation(slug, "a", "staged only");
    const refused = await failure(switchMode(slug, EditingMode.ITERATION));
    expect(refused.code).toBe(Code.FailedPrecondition);
    expect(refused.message).toMatch(/unpublished changes/);
    expect((await toolsets().getToolset({ project: tenant.project, slug }, auth())).toolset?.editingMode).toBe(EditingMode.STAGING);

    const back = await switchMode(slug, EditingMode.ITERATION, true);
    expect(back.editingMode).toBe(EditingMode.ITERATION);
    expect(back.currentReleaseNumber).toBe(0n);
    expect((await failure(toolsets().getStagingVersion({ project: tenant.project, slug }, auth()))).code).toBe(Code.NotFound);
    expect((await resolve(slug)).tools[0]?.description).toBe("a from source");
    // Releases are kept; the event log shows the way back.
    expect((await releases().listReleases({ project: tenant.project, slug }, auth())).releases).toHaveLength(1);
    const [last] = (await releases().listReleaseEvents({ project: tenant.project, slug }, auth())).events;
    expect([last?.kind, last?.fromReleaseNumber, last?.toReleaseNumber]).toEqual([ReleaseEventKind.MODE_SWITCHED, 1n, 0n]);
  });

  it("switching back without staged changes takes the current release's state, toolset variations included", async () => {
    const slug = uniqueSlug("adopt");
    await deploy([tool("a")]);
    await staged(slug, ["a"]);
    await stagingVariation(slug, "a", "published variation");
    await editStaging(slug, { name: "Renamed" });
    await publish(slug);
    const live = await resolve(slug);
    const back = await switchMode(slug, EditingMode.ITERATION);
    expect(back.name).toBe("Renamed");
    const after = await resolve(slug);
    expect(after.etag).toBe(live.etag);
    expect(after.tools[0]?.description).toBe("published variation");
    // The live toolset edits directly again.
    await toolsets().upsertToolVariation(
      { project: tenant.project, scope: { toolsetSlug: slug }, variation: { srcToolUrn: urn("a"), description: "direct" } },
      auth(),
    );
    expect((await resolve(slug)).tools[0]?.description).toBe("direct");
  });

  it("an organization without toolset_staging cannot switch to staging", async () => {
    const plain = await createTenant(server.db, { features: [] });
    await toolsets().createToolset({ project: plain.project, name: "Plain", slug: "plain" }, bearer(plain.producerKey));
    const err = await failure(
      toolsets().switchEditingMode({ project: plain.project, slug: "plain", mode: EditingMode.STAGING }, bearer(plain.producerKey)),
    );
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.message).toMatch(/toolset_staging/);
    const { toolset } = await toolsets().getToolset({ project: plain.project, slug: "plain" }, bearer(plain.producerKey));
    expect(toolset?.editingMode).toBe(EditingMode.ITERATION);
    expect(toolset?.currentReleaseNumber).toBe(0n);
  });
});

describe("project changes while in staging mode", () => {
  it("a new deployment and a global variation edit do not change live; they show in STAGING and reach live with the next publish", async () => {
    const slug = uniqueSlug("pinned");
    await deploy([tool("a")]);
    await createToolset(slug, ["a"]);
    await switchMode(slug, EditingMode.STAGING);
    const live = await resolve(slug);

    await deploy([tool("a", { description: "a, redeployed" })]);
    await globalVariation("a", "a, globally varied");
    expect((await resolve(slug)).etag).toBe(live.etag);
    expect((await resolve(slug)).tools[0]?.description).toBe("a from source");
    const staged = await resolve(slug, Target.STAGING);
    expect(staged.tools[0]?.description).toBe("a, globally varied");

    const release = await publish(slug, "picks up project changes");
    expect(release.releaseNumber).toBe(2n);
    const after = await resolve(slug);
    expect(after.etag).toBe(staged.etag);
    expect(after.tools[0]?.description).toBe("a, globally varied");
    await globalVariation("a", "cleanup");
  });
});

describe("rollback", () => {
  it("several releases → roll back → live serves exactly the old release → the staging copy is untouched", async () => {
    const slug = uniqueSlug("rb");
    await deploy([tool("a"), tool("b"), tool("c")]);
    await staged(slug, ["a"]);
    await editStaging(slug, { toolUrns: [urn("a"), urn("b")], name: "Two" });
    await publish(slug);
    const two = await resolve(slug);
    await editStaging(slug, { toolUrns: [urn("a"), urn("b"), urn("c")], name: "Three" });
    await publish(slug);
    expect((await resolve(slug)).etag).not.toBe(two.etag);
    const copyBefore = (await toolsets().getStagingVersion({ project: tenant.project, slug }, auth())).toolset!;

    const { toolset } = await releases().rollbackToRelease({ project: tenant.project, slug, releaseNumber: 2n, reason: "c is broken" }, auth());
    expect(toolset?.currentReleaseNumber).toBe(2n);
    expect(toolset?.name).toBe("Two");
    expect(toolset?.toolUrns).toEqual([urn("a"), urn("b")]);
    const live = await resolve(slug);
    expect(live.etag).toBe(two.etag);
    expect(live.releaseNumber).toBe(2n);
    const copyAfter = (await toolsets().getStagingVersion({ project: tenant.project, slug }, auth())).toolset!;
    expect(copyAfter).toEqual(copyBefore);

    const list = (await releases().listReleases({ project: tenant.project, slug }, auth())).releases;
    expect(list.map((r) => [r.releaseNumber, r.isCurrent])).toEqual([
      [3n, false],
      [2n, true],
      [1n, false],
    ]);
    const [event] = (await releases().listReleaseEvents({ project: tenant.project, slug, pageSize: 1 }, auth())).events;
    expect([event?.kind, event?.fromReleaseNumber, event?.toReleaseNumber, event?.notes]).toEqual([
      ReleaseEventKind.ROLLED_BACK,
      3n,
      2n,
      "c is broken",
    ]);

    // Rolling back to the current release changes nothing and logs nothing.
    const again = await releases().rollbackToRelease({ project: tenant.project, slug, releaseNumber: 2n }, auth());
    expect(again.toolset?.version).toBe(toolset?.version);
    expect((await releases().listReleaseEvents({ project: tenant.project, slug }, auth())).events).toHaveLength(4);
    expect((await failure(releases().rollbackToRelease({ project: tenant.project, slug, releaseNumber: 9n }, auth()))).code).toBe(Code.NotFound);

    // Publishing after a rollback continues the numbering.
    const next = await publish(slug, "again three");
    expect(next.releaseNumber).toBe(4n);
  });

  it("an older release keeps serving its own variation versions and prompt revisions after later edits", async () => {
    const slug = uniqueSlug("old");
    const prompt = uniqueSlug("p");
    await deploy([tool("a")]);
    await sources().upsertPromptTemplate({ project: tenant.project, name: prompt, prompt: "version one" }, auth());
    await toolsets().createToolset({ project: tenant.project, name: slug, slug, toolUrns: [urn("a")], promptTemplateNames: [prompt] }, auth());
    await switchMode(slug, EditingMode.STAGING);
    await stagingVariation(slug, "a", "variation one");
    await publish(slug);
    const two = await resolve(slug, Target.UNSPECIFIED, 2n);

    await stagingVariation(slug, "a", "variation two");
    await sources().upsertPromptTemplate({ project: tenant.project, name: prompt, prompt: "version two" }, auth());
    await publish(slug);
    const three = await resolve(slug);
    expect(three.tools[0]?.description).toBe("variation two");
    expect(three.prompts[0]?.prompt).toBe("version two");

    const pinned = await resolve(slug, Target.UNSPECIFIED, 2n);
    expect(pinned.releaseNumber).toBe(2n);
    expect(pinned.tools[0]?.description).toBe("variation one");
    expect(pinned.prompts[0]?.prompt).toBe("version one");
    expect(pinned.etag).toBe(two.etag);
    expect((await failure(resolve(slug, Target.UNSPECIFIED, 7n))).code).toBe(Code.NotFound);
  });
});

describe("DiffReleases", () => {
  it("classifies removed, added and renamed tools, new required input and description changes", async () => {
    const slug = uniqueSlug("diff");
    const schema = (required: string[]): JsonObject => ({ type: "object", properties: { id: { type: "string" }, n: { type: "integer" } }, required });
    await deploy([tool("keep", { inputSchema: schema(["id"]) }), tool("gone"), tool("ren"), tool("new")]);
    await staged(slug, ["keep", "gone", "ren"]);
    expect(await diff(slug, Target.LIVE, Target.STAGING)).toEqual([]);

    await editStaging(slug, { toolUrns: [urn("keep"), urn("ren"), urn("new")] });
    await toolsets().upsertToolVariation(
      {
        project: tenant.project,
        scope: { toolsetSlug: slug, staging: true },
        variation: { srcToolUrn: urn("ren"), name: "renamed", description: "better words" },
      },
      auth(),
    );
    await deploy([tool("keep", { inputSchema: schema(["id", "n"]) }), tool("gone"), tool("ren"), tool("new")]);
    const changes = await diff(slug, 1n, Target.STAGING);
    const summary = changes.map((c) => [c.kind, c.toolUrn, c.field, c.breaking]);
    expect(summary).toEqual([
      [ChangeKind.TOOL_REMOVED, urn("gone"), "", true],
      [ChangeKind.TOOL_CHANGED, urn("keep"), "input_schema.required", true],
      [ChangeKind.TOOL_ADDED, urn("new"), "", false],
      [ChangeKind.TOOL_RENAMED, urn("ren"), "name", true],
      [ChangeKind.TOOL_CHANGED, urn("ren"), "description", false],
    ]);
    const renamed = changes.find((c) => c.kind === ChangeKind.TOOL_RENAMED);
    expect([renamed?.before, renamed?.after]).toEqual(["ren", "renamed"]);

    await publish(slug);
    expect(await diff(slug, Target.STAGING, Target.LIVE)).toEqual([]);
    expect((await diff(slug, 2n, 1n)).map((c) => c.kind)).toContain(ChangeKind.TOOL_ADDED);
    expect((await failure(diff(slug, 5n, Target.LIVE))).code).toBe(Code.NotFound);
  });
});

describe("edge cases of staged state", () => {
  it("an override of a tool that is not selected is publishable, and switching back agrees", async () => {
    const slug = uniqueSlug("hidden");
    await deploy([tool("a"), tool("b")]);
    await staged(slug, ["a"]);
    await stagingVariation(slug, "b", "ready for when b is selected");
    // Nothing a client sees changed, but the copy did: publish records it...
    const release = await publish(slug);
    expect(release.releaseNumber).toBe(2n);
    expect(release.toolsetVariationsVersionId).not.toBe("");
    // ...and afterwards there is nothing left to publish nor to lose.
    expect((await failure(publish(slug))).code).toBe(Code.FailedPrecondition);
    expect((await switchMode(slug, EditingMode.ITERATION)).editingMode).toBe(EditingMode.ITERATION);
  });

  it("after a rollback, a staging copy holding the newest release can be left without discard_staging", async () => {
    const slug = uniqueSlug("rbback");
    await deploy([tool("a"), tool("b")]);
    await staged(slug, ["a"]);
    await editStaging(slug, { toolUrns: [urn("a"), urn("b")] });
    await publish(slug);
    await releases().rollbackToRelease({ project: tenant.project, slug, releaseNumber: 1n }, auth());
    const back = await switchMode(slug, EditingMode.ITERATION);
    expect(back.toolUrns).toEqual([urn("a")]);
    expect((await resolve(slug)).tools.map((t) => t.urn)).toEqual([urn("a")]);
  });

  it("a staged mcp_slug taken by another toolset is refused at the edit; a rollback to a taken one is refused whole", async () => {
    const slug = uniqueSlug("slugs");
    const otherSlug = uniqueSlug("holder");
    const [x, y] = [uniqueSlug("ep"), uniqueSlug("ep")];
    await createToolset(otherSlug, []);
    await createToolset(slug, []);
    await toolsets().updateToolset({ project: tenant.project, slug, fields: { mcpSlug: x }, updateMask: { paths: ["mcp_slug"] } }, auth());
    await toolsets().updateToolset({ project: tenant.project, slug: otherSlug, fields: { mcpSlug: y }, updateMask: { paths: ["mcp_slug"] } }, auth());
    await switchMode(slug, EditingMode.STAGING);

    const taken = await failure(
      toolsets().updateToolset({ project: tenant.project, slug, staging: true, fields: { mcpSlug: y }, updateMask: { paths: ["mcp_slug"] } }, auth()),
    );
    expect(taken.code).toBe(Code.AlreadyExists);
    expect(taken.message).toContain(y);

    // Release 2 moves the endpoint to a new slug; the other toolset then takes the old one.
    const z = uniqueSlug("ep");
    await toolsets().updateToolset(
      { project: tenant.project, slug, staging: true, fields: { mcpSlug: z }, updateMask: { paths: ["mcp_slug"] } },
      auth(),
    );
    await publish(slug);
    await toolsets().updateToolset({ project: tenant.project, slug: otherSlug, fields: { mcpSlug: x }, updateMask: { paths: ["mcp_slug"] } }, auth());
    const before = (await toolsets().getToolset({ project: tenant.project, slug }, auth())).toolset!;
    const blocked = await failure(releases().rollbackToRelease({ project: tenant.project, slug, releaseNumber: 1n }, auth()));
    expect(blocked.code).toBe(Code.AlreadyExists);
    expect(blocked.message).toContain(x);
    expect((await toolsets().getToolset({ project: tenant.project, slug }, auth())).toolset).toEqual(before);
  });

  it("the live scope of a toolset in staging mode lists the variations its current release serves", async () => {
    const slug = uniqueSlug("livevars");
    await deploy([tool("a")]);
    await createToolset(slug, ["a"]);
    await toolsets().upsertToolVariation(
      { project: tenant.project, scope: { toolsetSlug: slug }, variation: { srcToolUrn: urn("a"), title: "old" } },
      auth(),
    );
    await switchMode(slug, EditingMode.STAGING);
    await toolsets().upsertToolVariation(
      { project: tenant.project, scope: { toolsetSlug: slug, staging: true }, variation: { srcToolUrn: urn("a"), title: "new" } },
      auth(),
    );
    const listLive = async () =>
      (await toolsets().listToolVariations({ project: tenant.project, scope: { toolsetSlug: slug } }, auth())).variations.map((v) => v.title);
    expect(await listLive()).toEqual(["old"]);
    await publish(slug);
    expect(await listLive()).toEqual(["new"]);
    expect((await resolve(slug)).tools[0]?.title).toBe("new");
  });

  it("copying variations into a staging copy and back runs the same statements for 2 overrides or 40", async () => {
    const statementsOf = async (count: number) => {
      const slug = uniqueSlug("copy");
      const names = Array.from({ length: count }, (_, i) => `t${i}`);
      await deploy(names.map((n) => tool(n)));
      await createToolset(slug, names);
      for (const n of names) {
        await toolsets().upsertToolVariation(
          { project: tenant.project, scope: { toolsetSlug: slug }, variation: { srcToolUrn: urn(n), title: n } },
          auth(),
        );
      }
      server.queries.length = 0;
      await switchMode(slug, EditingMode.STAGING);
      const toStaging = server.queries.length;
      for (const n of names) await stagingVariation(slug, n, `${n} staged`);
      await publish(slug);
      server.queries.length = 0;
      await switchMode(slug, EditingMode.ITERATION);
      const toIteration = server.queries.length;
      expect((await resolve(slug)).tools.map((t) => t.description)).toEqual(names.map((n) => `${n} staged`).sort());
      return [toStaging, toIteration];
    };
    expect(await statementsOf(40)).toEqual(await statementsOf(2));
  });
});
