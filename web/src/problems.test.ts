import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { describeProblem, fieldProblem, unplacedFields } from "./problems.js";

const info = (reason: string, metadata: Record<string, string> = {}) => ({
  desc: ErrorInfoSchema,
  value: create(ErrorInfoSchema, { reason, domain: "toolset-release-service", metadata }),
});

describe("describeProblem", () => {
  it("puts field violations under their request path, with a form-level message", () => {
    const err = new ConnectError("fields.mcp_slug: must be 1-63 lowercase letters", Code.InvalidArgument, undefined, [
      {
        desc: BadRequestSchema,
        value: create(BadRequestSchema, { fieldViolations: [{ field: "fields.mcp_slug", description: "must be 1-63 lowercase letters" }] }),
      },
    ]);
    const p = describeProblem(err);
    expect(p.fields).toEqual({ "fields.mcp_slug": "Must be 1-63 lowercase letters." });
    expect(p.message).toMatch(/next to them/);
    expect(fieldProblem(p, "fields.mcp_slug")).toBe("Must be 1-63 lowercase letters.");
    expect(fieldProblem(p, "fields.name")).toBeUndefined();
  });

  it("lists the violations no field of the form shows", () => {
    const err = new ConnectError("too long", Code.InvalidArgument, undefined, [
      {
        desc: BadRequestSchema,
        value: create(BadRequestSchema, {
          fieldViolations: [
            { field: "notes", description: "at most 4096 characters" },
            { field: "fields.name", description: "required" },
          ],
        }),
      },
    ]);
    const p = describeProblem(err);
    expect(unplacedFields(p, ["fields.name"])).toEqual([["notes", "At most 4096 characters."]]);
    expect(unplacedFields(p, ["notes", "fields"])).toEqual([]);
  });

  it("finds a violation of an element below the field", () => {
    const err = new ConnectError("bad urn", Code.InvalidArgument, undefined, [
      { desc: BadRequestSchema, value: create(BadRequestSchema, { fieldViolations: [{ field: "fields.tool_urns[2]", description: "not a URN" }] }) },
    ]);
    expect(fieldProblem(describeProblem(err), "fields.tool_urns")).toBe("Not a URN.");
    expect(fieldProblem(describeProblem(err), "fields.tool")).toBeUndefined();
  });

  it("turns reasons into sentences without codes", () => {
    const nothing = describeProblem(new ConnectError("no changes to publish", Code.FailedPrecondition, undefined, [info("NOTHING_TO_PUBLISH")]));
    expect(nothing.reason).toBe("NOTHING_TO_PUBLISH");
    expect(nothing.message).toMatch(/nothing to publish/i);
    const feature = describeProblem(
      new ConnectError("feature toolset_staging", Code.FailedPrecondition, undefined, [info("FEATURE_NOT_ENABLED", { feature: "toolset_staging" })]),
    );
    expect(feature.message).toMatch(/not enabled for this organization/);
    expect(feature.message).toContain("toolset_staging");
    for (const p of [nothing, feature]) expect(p.message).not.toMatch(/FAILED_PRECONDITION|failed_precondition|NOTHING_TO_PUBLISH/);
    const slug = describeProblem(new ConnectError("exists", Code.AlreadyExists, undefined, [info("ALREADY_EXISTS", { entity: "mcp_slug" })]));
    expect(slug.message).toMatch(/already uses this MCP slug/);
  });

  it("says when to retry from RetryInfo", () => {
    const err = new ConnectError("rate limited", Code.ResourceExhausted, undefined, [
      info("RATE_LIMITED", { limit: "write" }),
      { desc: RetryInfoSchema, value: create(RetryInfoSchema, { retryDelay: durationFromMs(2500) }) },
    ]);
    expect(describeProblem(err).message).toBe("Too many requests with this key. Try again in 3 seconds.");
  });

  it("explains codes without details, and quotes the request id of an internal error", () => {
    expect(describeProblem(new ConnectError("x", Code.Unauthenticated)).message).toMatch(/key was not accepted/);
    expect(describeProblem(new ConnectError("x", Code.PermissionDenied)).message).toMatch(/producer scope/);
    const internal = new ConnectError("internal error", Code.Internal, new Headers({ "x-request-id": "req-42" }));
    expect(describeProblem(internal).message).toBe("Something went wrong on the server. Quote request id req-42 when you report it.");
    // A fetch that never reached the service: no request id, so not "on the server".
    const offline = describeProblem(new TypeError("Failed to fetch"));
    expect(offline.code).toBe(Code.Unknown);
    expect(offline.message).toMatch(/cannot be reached/);
  });
});
