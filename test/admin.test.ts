import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ToolsetService } from "../gen/toolsets/v1/toolsets_pb.js";
import { uniqueSlug } from "../server/testing/fixtures.js";
import { bearer } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";

const run = promisify(execFile);
const { database, server } = useTestServer();

async function admin(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run("node_modules/.bin/tsx", ["server/cli/admin.ts", ...args], {
      env: { ...process.env, DATABASE_URL: database.url, MIGRATE_ON_START: "false" },
    });
    return { stdout, stderr, code: 0 };
  } catch (e) {
    const err = e as { stdout: string; stderr: string; code: number };
    return { stdout: err.stdout, stderr: err.stderr, code: err.code };
  }
}

async function callCode(key: string, project: string): Promise<Code | undefined> {
  try {
    await server.client(ToolsetService).listToolsets({ project }, bearer(key));
    return undefined;
  } catch (e) {
    return ConnectError.from(e).code;
  }
}

describe("admin commands", () => {
  it("create an organization, a project and keys; a printed key works until revoked", async () => {
    const org = uniqueSlug("org");
    const created = await admin("create-org", org, "--name", "Acme", "--feature", "toolset_staging");
    expect(created.code).toBe(0);
    expect(created.stdout).toContain(`created organization ${org}`);
    expect((await admin("create-project", org, "web")).code).toBe(0);

    const key = await admin("create-api-key", org, "--scope", "consumer", "--project", "web", "--name", "ci");
    expect(key.code).toBe(0);
    const printed = key.stdout.trimEnd().split("\n").at(-1) ?? "";
    expect(printed).toMatch(/^tsr_[A-Za-z0-9_-]{43}$/);
    expect(await callCode(printed, "web")).toBeUndefined();

    const hashes = await server.db.selectFrom("api_keys").select(["key_hash", "display_prefix"]).where("name", "=", "ci").execute();
    expect(hashes).toHaveLength(1);
    expect(hashes[0]!.key_hash.toString("utf8")).not.toContain(printed.slice(4));
    expect(printed.startsWith(hashes[0]!.display_prefix)).toBe(true);

    expect((await admin("revoke-api-key", org, "ci")).code).toBe(0);
    expect(await callCode(printed, "web")).toBe(Code.Unauthenticated);
  });

  it("reports bad input clearly and changes nothing", async () => {
    const dup = uniqueSlug("org");
    expect((await admin("create-org", dup)).code).toBe(0);
    const again = await admin("create-org", dup);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already exists");
    const badSlug = await admin("create-org", "Not A Slug");
    expect(badSlug.code).toBe(1);
    expect(badSlug.stderr).toContain("org:");
    const badScope = await admin("create-api-key", dup, "--scope", "admin");
    expect(badScope.code).toBe(64);
    expect(badScope.stderr).toContain("--scope");
    const noOrg = await admin("create-project", "missing-org", "web");
    expect(noOrg.stderr).toContain('organization "missing-org" not found');
    const unknownFeature = await admin("create-org", uniqueSlug("org"), "--feature", "warp_drive");
    expect(unknownFeature.stderr).toContain("unknown feature");
    const orgs = await server.db.selectFrom("organizations").select("slug").where("slug", "=", "Not A Slug").execute();
    expect(orgs).toEqual([]);
  });
});
