import { Code } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { ToolsetService } from "../gen/toolsets/v1/toolsets_pb.js";
import { createApiKey, revokeApiKey } from "../server/auth/keys.js";
import { createProject } from "../server/auth/tenants.js";
import { bearer, failure } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";

const { server, tenant, other } = useTestServer({ tenants: 2 });
let revokedKey: string;
let boundKey: string;
const SECOND_PROJECT = "second";

beforeAll(async () => {
  const revoked = await createApiKey(server.db, { org: tenant.org, scope: "producer", name: "to-revoke" });
  await revokeApiKey(server.db, { org: tenant.org, name: "to-revoke" });
  revokedKey = revoked.key;
  await createProject(server.db, { org: tenant.org, slug: SECOND_PROJECT });
  boundKey = (await createApiKey(server.db, { org: tenant.org, scope: "producer", project: SECOND_PROJECT })).key;
});

// A read (consumer scope is enough) and a write (producer scope needed).
const rpcs = {
  read: (key: string | undefined, project: string) => server.client(ToolsetService).listToolsets({ project }, key === undefined ? {} : bearer(key)),
  write: (key: string | undefined, project: string) =>
    server
      .client(ToolsetService)
      .createToolset({ project, name: `Pets ${Math.random().toString(36).slice(2, 10)}` }, key === undefined ? {} : bearer(key)),
};

describe.each(Object.entries(rpcs))("auth matrix: %s RPC", (_kind, call) => {
  it("no key → UNAUTHENTICATED", async () => {
    expect((await failure(call(undefined, tenant.project))).code).toBe(Code.Unauthenticated);
  });
  it("malformed key → UNAUTHENTICATED", async () => {
    expect((await failure(call("not-a-key", tenant.project))).code).toBe(Code.Unauthenticated);
    const raw = await failure(server.client(ToolsetService).listToolsets({ project: tenant.project }, { headers: { authorization: "Basic abc" } }));
    expect(raw.code).toBe(Code.Unauthenticated);
  });
  it("unknown key → UNAUTHENTICATED", async () => {
    expect((await failure(call(`tsr_${"A".repeat(43)}`, tenant.project))).code).toBe(Code.Unauthenticated);
  });
  it("revoked key → UNAUTHENTICATED", async () => {
    expect((await failure(call(revokedKey, tenant.project))).code).toBe(Code.Unauthenticated);
  });
  it("another organization's project and a missing project → NOT_FOUND with the same message", async () => {
    const foreign = await failure(call(tenant.producerKey, other.project));
    expect(foreign.code).toBe(Code.NotFound);
    const missing = await failure(call(tenant.producerKey, "does-not-exist"));
    expect(missing.code).toBe(Code.NotFound);
    expect(foreign.message.replace(other.project, "X")).toBe(missing.message.replace("does-not-exist", "X"));
  });
  it("a project-bound key naming another project → PERMISSION_DENIED", async () => {
    expect((await failure(call(boundKey, tenant.project))).code).toBe(Code.PermissionDenied);
  });
  it("a producer key for its own project succeeds, and so does a key bound to that project", async () => {
    await expect(call(tenant.producerKey, tenant.project)).resolves.toBeDefined();
    await expect(call(boundKey, SECOND_PROJECT)).resolves.toBeDefined();
  });
});

describe("scopes", () => {
  it("a consumer key may read but not write", async () => {
    await expect(rpcs.read(tenant.consumerKey, tenant.project)).resolves.toBeDefined();
    expect((await failure(rpcs.write(tenant.consumerKey, tenant.project))).code).toBe(Code.PermissionDenied);
  });
  it("health and reflection need no key", async () => {
    const res = await fetch(`${server.baseUrl}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(200);
  });
});
