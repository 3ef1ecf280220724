import { Code, ConnectError } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { EditingMode } from "../gen/toolsets/v1/toolsets_pb.js";
import { DomainError, ERROR_DOMAIN, invalidArgument, toConnectError } from "../server/platform/errors.js";
import { createTenant, httpTool, uniqueSlug } from "../server/testing/fixtures.js";
import { PROTOCOLS, type Protocol } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";

const { server, tenant, api } = useTestServer({ tenants: 1 });

beforeAll(async () => {
  await api.deploy([httpTool("a"), httpTool("b")]);
});

/** The error a call must fail with, as the generated client sees it. */
async function rejection(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("expected the call to fail");
}

/** What a client reads from an error's details. */
function details(err: ConnectError) {
  return {
    code: err.code,
    reasons: err.findDetails(ErrorInfoSchema).map((i) => ({ reason: i.reason, domain: i.domain, metadata: { ...i.metadata } })),
    violations: err.findDetails(BadRequestSchema).flatMap((b) => b.fieldViolations.map((v) => ({ field: v.field, description: v.description }))),
  };
}

describe.each(PROTOCOLS)("error details over %s", (protocol: Protocol) => {
  const { toolsets, releases, auth } = api.with({ protocol });

  it("INVALID_ARGUMENT carries a BadRequest field violation naming the field", async () => {
    const err = await rejection(
      toolsets().createToolset({ project: tenant.project, name: "Bad", toolUrns: ["tools:http:api:a", "not a urn"] }, auth()),
    );
    const d = details(err);
    expect(d.code).toBe(Code.InvalidArgument);
    expect(d.violations).toHaveLength(1);
    expect(d.violations[0]?.field).toBe("tool_urns[1]");
    expect(d.violations[0]?.description).not.toBe("");
    expect(err.rawMessage.startsWith("tool_urns[1]: ")).toBe(true);
    expect(d.reasons).toEqual([]);
  });

  it("FAILED_PRECONDITION carries STAGING_MODE_REQUIRED for a publish in iteration mode", async () => {
    const slug = uniqueSlug("iter");
    await toolsets().createToolset({ project: tenant.project, name: slug, slug }, auth());
    const d = details(await rejection(releases().publishStagingVersion({ project: tenant.project, slug }, auth())));
    expect(d).toEqual({
      code: Code.FailedPrecondition,
      reasons: [{ reason: "STAGING_MODE_REQUIRED", domain: ERROR_DOMAIN, metadata: {} }],
      violations: [],
    });
  });

  it("FAILED_PRECONDITION carries NOTHING_TO_PUBLISH, and LIVE_TOOLSET_PINNED for a live edit in staging mode", async () => {
    const slug = uniqueSlug("staged");
    await toolsets().createToolset({ project: tenant.project, name: slug, slug, toolUrns: ["tools:http:api:a"] }, auth());
    await toolsets().switchEditingMode({ project: tenant.project, slug, mode: EditingMode.STAGING }, auth());
    const nothing = details(await rejection(releases().publishStagingVersion({ project: tenant.project, slug }, auth())));
    expect(nothing.code).toBe(Code.FailedPrecondition);
    expect(nothing.reasons.map((r) => r.reason)).toEqual(["NOTHING_TO_PUBLISH"]);
    const pinned = details(
      await rejection(toolsets().updateToolset({ project: tenant.project, slug, fields: { name: "x" }, updateMask: { paths: ["name"] } }, auth())),
    );
    expect(pinned.code).toBe(Code.FailedPrecondition);
    expect(pinned.reasons.map((r) => r.reason)).toEqual(["LIVE_TOOLSET_PINNED"]);
  });

  it("FAILED_PRECONDITION carries STAGING_COPY_MISSING and UNPUBLISHED_CHANGES", async () => {
    const slug = uniqueSlug("copy");
    await toolsets().createToolset({ project: tenant.project, name: slug, slug, toolUrns: ["tools:http:api:a"] }, auth());
    await toolsets().switchEditingMode({ project: tenant.project, slug, mode: EditingMode.STAGING }, auth());
    await toolsets().updateToolset(
      { project: tenant.project, slug, staging: true, fields: { description: "staged" }, updateMask: { paths: ["description"] } },
      auth(),
    );
    const unpublished = details(
      await rejection(toolsets().switchEditingMode({ project: tenant.project, slug, mode: EditingMode.ITERATION }, auth())),
    );
    expect(unpublished.code).toBe(Code.FailedPrecondition);
    expect(unpublished.reasons.map((r) => r.reason)).toEqual(["UNPUBLISHED_CHANGES"]);
    await toolsets().discardStagingVersion({ project: tenant.project, slug }, auth());
    const missing = details(await rejection(releases().publishStagingVersion({ project: tenant.project, slug }, auth())));
    expect(missing.code).toBe(Code.FailedPrecondition);
    expect(missing.reasons.map((r) => r.reason)).toEqual(["STAGING_COPY_MISSING"]);
  });

  it("FAILED_PRECONDITION carries FEATURE_NOT_ENABLED naming the feature", async () => {
    const plain = await createTenant(server.db, { features: [] });
    const theirs = api.with({ tenant: plain, protocol });
    const slug = uniqueSlug("nofeature");
    await theirs.createToolset(slug);
    const d = details(
      await rejection(theirs.toolsets().switchEditingMode({ project: plain.project, slug, mode: EditingMode.STAGING }, theirs.auth())),
    );
    expect(d).toEqual({
      code: Code.FailedPrecondition,
      reasons: [{ reason: "FEATURE_NOT_ENABLED", domain: ERROR_DOMAIN, metadata: { feature: "toolset_staging" } }],
      violations: [],
    });
  });

  it("ABORTED carries VERSION_CONFLICT for a stale expected_version", async () => {
    const slug = uniqueSlug("ver");
    await toolsets().createToolset({ project: tenant.project, name: slug, slug }, auth());
    const d = details(
      await rejection(
        toolsets().updateToolset(
          { project: tenant.project, slug, fields: { name: "y" }, updateMask: { paths: ["name"] }, expectedVersion: 7n },
          auth(),
        ),
      ),
    );
    expect(d.code).toBe(Code.Aborted);
    expect(d.reasons.map((r) => r.reason)).toEqual(["VERSION_CONFLICT"]);
    expect(d.reasons[0]?.metadata).toEqual({ current_version: "1" });
  });

  it("ALREADY_EXISTS carries ALREADY_EXISTS with the entity", async () => {
    const slug = uniqueSlug("dup");
    await toolsets().createToolset({ project: tenant.project, name: slug, slug }, auth());
    const d = details(await rejection(toolsets().createToolset({ project: tenant.project, name: slug, slug }, auth())));
    expect(d).toEqual({
      code: Code.AlreadyExists,
      reasons: [{ reason: "ALREADY_EXISTS", domain: ERROR_DOMAIN, metadata: { entity: "toolset" } }],
      violations: [],
    });
  });
});

describe("error messages are bounded (gRPC sends them as headers)", () => {
  it.each([
    ["a domain error", invalidArgument("update_mask.paths[0]", `unknown path ${"x".repeat(70_000)}`)],
    ["a ConnectError", new ConnectError("y".repeat(70_000), Code.NotFound)],
  ])("%s of 70,000 characters is cut to 1,024 with its code and details kept", (_, thrown: DomainError | ConnectError) => {
    const { error } = toConnectError(thrown);
    expect(error.rawMessage.length).toBeLessThanOrEqual(1024);
    expect(error.rawMessage).toMatch(/… \(truncated\)$/);
    expect(error.code).toBe(thrown instanceof ConnectError ? Code.NotFound : Code.InvalidArgument);
    if (thrown instanceof DomainError)
      expect(error.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.description.length).toBeLessThanOrEqual(1024);
  });
});

describe("errors mapped from SQLSTATEs carry a generic reason", () => {
  const pgError = (code: string) => Object.assign(new Error("from PostgreSQL: constraint x_fkey on table y"), { code });

  it.each([
    ["40001", Code.Aborted, "CONCURRENT_UPDATE"],
    ["40P01", Code.Aborted, "CONCURRENT_UPDATE"],
    ["23503", Code.FailedPrecondition, "REFERENCE_CONFLICT"],
    ["23505", Code.AlreadyExists, "ALREADY_EXISTS"],
    ["55P03", Code.Aborted, "LOCK_TIMEOUT"],
  ])("SQLSTATE %s → %s with %s, and no SQL in the message", (state, code, reason) => {
    const { error, cause } = toConnectError(pgError(state));
    expect(error.code).toBe(code);
    expect(error.findDetails(ErrorInfoSchema).map((i) => [i.reason, i.domain])).toEqual([[reason, ERROR_DOMAIN]]);
    expect(error.rawMessage).not.toMatch(/constraint|table/);
    expect(cause).toBeDefined();
  });

  it("a lock timeout (55P03) says when to retry: RetryInfo with a positive delay", () => {
    const { error } = toConnectError(pgError("55P03"));
    const [retry] = error.findDetails(RetryInfoSchema);
    expect(Number(retry?.retryDelay?.seconds ?? 0n) * 1000 + (retry?.retryDelay?.nanos ?? 0) / 1e6).toBeGreaterThan(0);
  });

  it("an internal error carries no details", () => {
    const { error } = toConnectError(new Error("boom"));
    expect(error.code).toBe(Code.Internal);
    expect(error.details).toEqual([]);
  });
});
