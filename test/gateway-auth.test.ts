import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EditingMode } from "../gen/toolsets/v1/toolsets_pb.js";
import { createApiKey, revokeApiKey } from "../server/auth/keys.js";
import { httpTool as tool, uniqueSlug } from "../server/testing/fixtures.js";
import { useTestServer } from "../server/testing/use-test-server.js";
import { connectClient, postInitialize, startTestGateway, type McpTestClient, type TestGateway } from "./support/gateway.js";

// Who may use which endpoint (issue 10, DESIGN §10): a public live endpoint
// needs no key; staging, releases and private endpoints answer 401 with
// WWW-Authenticate without a key; another organization's key and a missing
// toolset get one and the same 404; a consumer key works; a revoked key gets
// 401 and its open streams end. Host and Origin are checked against DNS rebinding.

const { server, tenant, other, api } = useTestServer({ tenants: 2 });
let gw: TestGateway;
const clients: McpTestClient[] = [];
const endpoints = { public: "", private: "", disabled: "" };

async function endpoint(settings: { enabled: boolean; public: boolean }): Promise<string> {
  const slug = uniqueSlug("ts");
  const mcpSlug = uniqueSlug("mcp");
  await api.createToolset(slug, ["a"]);
  await api.editLive(slug, { mcpSlug, mcpEnabled: settings.enabled, mcpIsPublic: settings.public });
  await api.switchMode(slug, EditingMode.STAGING);
  return `${tenant.org}/${tenant.project}/${mcpSlug}`;
}

beforeAll(async () => {
  await api.deploy([tool("a")]);
  endpoints.public = await endpoint({ enabled: true, public: true });
  endpoints.private = await endpoint({ enabled: true, public: false });
  endpoints.disabled = await endpoint({ enabled: false, public: true });
  gw = await startTestGateway(server.baseUrl);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await gw?.close();
});

const KINDS = [
  ["live", ""],
  ["staging", "/staging"],
  ["release", "/releases/1"],
] as const;

/** A raw 2025-era initialize: the status, headers and body the gateway answers. */
async function initialize(path: string, headers: Record<string, string> = {}) {
  const res = await postInitialize(gw.mcpUrl(path), headers);
  const body = await res.text();
  if (res.headers.get("mcp-session-id") !== null) {
    await fetch(gw.mcpUrl(path), { method: "DELETE", headers: { "mcp-session-id": res.headers.get("mcp-session-id") ?? "", ...headers } });
  }
  return { status: res.status, wwwAuthenticate: res.headers.get("www-authenticate"), body };
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe("the auth matrix", () => {
  it("a public live endpoint works without a key; staging and releases of it do not", async () => {
    expect((await initialize(endpoints.public)).status).toBe(200);
    for (const suffix of ["/staging", "/releases/1"]) {
      const r = await initialize(`${endpoints.public}${suffix}`);
      expect(r.status).toBe(401);
      expect(r.wwwAuthenticate).toMatch(/^Bearer/);
    }
  });

  it("without a key, private, disabled and missing endpoints answer the same 401", async () => {
    const answers = await Promise.all(
      [endpoints.private, endpoints.disabled, `${tenant.org}/${tenant.project}/nothing-here`, `${other.org}/${other.project}/nothing`].map((p) =>
        initialize(p),
      ),
    );
    for (const a of answers) {
      expect(a.status).toBe(401);
      expect(a.wwwAuthenticate).toMatch(/^Bearer/);
    }
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
  });

  it.each(KINDS)("%s: another organization's key and a missing toolset get the same 404", async (_kind, suffix) => {
    const foreign = await initialize(`${endpoints.private}${suffix}`, bearer(other.producerKey));
    const missing = await initialize(`${tenant.org}/${tenant.project}/nothing-here${suffix}`, bearer(tenant.producerKey));
    const disabled = await initialize(`${endpoints.disabled}${suffix}`, bearer(tenant.producerKey));
    expect(foreign.status).toBe(404);
    expect(missing).toEqual(foreign);
    expect(disabled).toEqual(foreign);
  });

  it.each(KINDS)("%s: producer and consumer keys work", async (_kind, suffix) => {
    expect((await initialize(`${endpoints.private}${suffix}`, bearer(tenant.consumerKey))).status).toBe(200);
    expect((await initialize(`${endpoints.private}${suffix}`, bearer(tenant.producerKey))).status).toBe(200);
  });

  it("2026-07-28 clients get the same answers: 401 without a key, one 404 for foreign and missing", async () => {
    const attempt = async (path: string, key?: string) => {
      const before = gw.logs.length;
      await expect(connectClient("2026-07-28", gw.mcpUrl(path), key !== undefined ? { key } : {})).rejects.toThrow();
      return gw.logs
        .slice(before)
        .filter((l) => l["msg"] === "mcp request" && l["era"] === "2026")
        .map((l) => l["status"]);
    };
    expect(await attempt(endpoints.private)).toContain(401);
    expect(await attempt(endpoints.private, other.producerKey)).toContain(404);
    expect(await attempt(`${tenant.org}/${tenant.project}/nothing-here/releases/1`, tenant.producerKey)).toContain(404);
  });

  it("a malformed or unknown key is 401", async () => {
    const malformed = await initialize(endpoints.private, { authorization: "Basic abc" });
    expect(malformed.status).toBe(401);
    const unknown = await initialize(endpoints.private, bearer("tsr_unknown_key"));
    expect(unknown.status).toBe(401);
    expect(unknown.wwwAuthenticate).toMatch(/invalid_token/);
  });

  /** Polls until a new initialize with `key` is refused with 401 (the revocation reached the gateway). */
  async function until401(path: string, key: string): Promise<number> {
    const deadline = Date.now() + 2_000;
    for (;;) {
      const { status } = await initialize(path, bearer(key));
      if (status === 401 || Date.now() > deadline) return status;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const revocable = async () => {
    const issued = await createApiKey(server.db, { org: tenant.org, scope: "consumer", name: uniqueSlug("k") });
    return { key: issued.key, revoke: () => revokeApiKey(server.db, { org: tenant.org, name: issued.name }) };
  };

  const ended = (p: Promise<unknown>, ms = 2_000) => Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

  it.each(KINDS)("2025-11-25 %s: a revoked key ends its session's GET stream; the session and new ones get 401", async (_kind, suffix) => {
    const path = `${endpoints.private}${suffix}`;
    const { key, revoke } = await revocable();
    const headers = { "content-type": "application/json", accept: "application/json, text/event-stream", ...bearer(key) };
    const init = await postInitialize(gw.mcpUrl(path), headers);
    await init.text();
    const session = init.headers.get("mcp-session-id") ?? "";
    expect(session).not.toBe("");
    const stream = await fetch(gw.mcpUrl(path), { headers: { ...headers, accept: "text/event-stream", "mcp-session-id": session } });
    expect(stream.status).toBe(200);
    const drained = stream.text();
    await revoke();
    expect(await ended(drained)).toBe(true);
    const again = await fetch(gw.mcpUrl(path), {
      method: "POST",
      headers: { ...headers, "mcp-session-id": session },
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
    });
    expect(again.status).toBe(401);
    expect(await until401(path, key)).toBe(401);
  });

  it.each(KINDS)("2026-07-28 %s: a revoked key ends its listen stream and is then 401", async (kind, suffix) => {
    const path = `${endpoints.private}${suffix}`;
    const { key, revoke } = await revocable();
    const client = await connectClient("2026-07-28", gw.mcpUrl(path), { key });
    clients.push(client);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["a"]);
    await revoke();
    // A release never changes, so it offers no listen stream to end.
    if (kind !== "release") expect(await ended(client.streamEnded)).toBe(true);
    expect(await until401(path, key)).toBe(401);
    await expect(client.listTools()).rejects.toThrow();
  });
});

describe("DNS rebinding", () => {
  it("a foreign Host is refused with 403", async () => {
    // fetch cannot set Host; a raw request can.
    const { request } = await import("node:http");
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        gw.mcpUrl(endpoints.public),
        { method: "POST", headers: { host: "evil.example.com", "content-type": "application/json" } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("error", reject);
      req.end("{}");
    });
    expect(status).toBe(403);
  });

  it("a foreign Origin is refused with 403; a local one is served", async () => {
    expect((await initialize(endpoints.public, { origin: "http://evil.example.com" })).status).toBe(403);
    expect((await initialize(endpoints.public, { origin: "http://localhost:6274" })).status).toBe(200);
  });
});
