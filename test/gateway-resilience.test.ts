import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EditingMode } from "../gen/toolsets/v1/toolsets_pb.js";
import { httpTool as tool, uniqueSlug } from "../server/testing/fixtures.js";
import { startTcpProxy, type TcpProxy } from "../server/testing/tcp-proxy.js";
import { useTestServer } from "../server/testing/use-test-server.js";
import { connectClient, ERAS, postInitialize, startTestGateway, type McpTestClient, type TestGateway } from "./support/gateway.js";

// The link from the gateway to the release service breaks (a restart, a
// network cut): open sessions keep serving what they had, the shared watch is
// reopened when the link is back, and the next publish is announced as usual.
// A new endpoint while the service is unreachable answers 503, not 404.

const { server, tenant, api } = useTestServer({ tenants: 1 });
let gw: TestGateway;
let proxy: TcpProxy;
let slug = "";
let base = "";
const clients: McpTestClient[] = [];

beforeAll(async () => {
  await api.deploy([tool("a"), tool("b")]);
  slug = uniqueSlug("ts");
  const mcpSlug = uniqueSlug("mcp");
  await api.createToolset(slug, ["a"]);
  await api.editLive(slug, { mcpSlug, mcpEnabled: true, mcpIsPublic: true });
  await api.switchMode(slug, EditingMode.STAGING);
  base = `${tenant.org}/${tenant.project}/${mcpSlug}`;
  proxy = await startTcpProxy("127.0.0.1", server.port);
  gw = await startTestGateway(`http://127.0.0.1:${proxy.port}`, { resolveTimeoutMs: 1_000 });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await gw?.close();
  await proxy?.close();
});

describe("a cut link to the release service", () => {
  it("keeps sessions serving, reopens the watch, and delivers the next publish", async () => {
    const sessions = await Promise.all(ERAS.map((era) => connectClient(era, gw.mcpUrl(base))));
    clients.push(...sessions);
    for (const s of sessions) expect((await s.listTools()).tools.map((t) => t.name)).toEqual(["a"]);

    await proxy.cut();
    for (const s of sessions) expect((await s.listTools()).tools.map((t) => t.name)).toEqual(["a"]);
    // An endpoint not open yet cannot be served while the service is unreachable.
    const fresh = await postInitialize(gw.mcpUrl(`${tenant.org}/${tenant.project}/other-endpoint`));
    expect(fresh.status).toBe(503);

    // A publish while the link is down is caught up on when it comes back.
    await api.editStaging(slug, { toolUrns: ["tools:http:api:a", "tools:http:api:b"] });
    await api.publish(slug);
    await proxy.restore();
    for (const s of sessions) await s.waitForToolsChanged(0, 5_000);
    for (const s of sessions) expect((await s.listTools()).tools.map((t) => t.name)).toEqual(["a", "b"]);
  });
});

describe("what changes while the link is cut", () => {
  it("an endpoint disabled meanwhile is dropped when the link is back: its sessions end, new ones get 404", async () => {
    const s2 = uniqueSlug("ts");
    const mcpSlug = uniqueSlug("mcp");
    await api.createToolset(s2, ["a"]);
    await api.editLive(s2, { mcpSlug, mcpEnabled: true, mcpIsPublic: false });
    const path = `${tenant.org}/${tenant.project}/${mcpSlug}`;
    const client = await connectClient("2026-07-28", gw.mcpUrl(path), { key: tenant.consumerKey });
    clients.push(client);
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["a"]);

    await proxy.cut();
    await api.editLive(s2, { mcpEnabled: false });
    await proxy.restore();
    const ended = await Promise.race([client.streamEnded.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5_000))]);
    expect(ended).toBe(true);
    const res = await postInitialize(gw.mcpUrl(path), { authorization: `Bearer ${tenant.consumerKey}` });
    expect(res.status).toBe(404);
  });
});

describe("a client that leaves while its endpoint opens", () => {
  it("leaves no hold behind: the endpoint's watch closes once idle", async () => {
    const slow = await startTcpProxy("127.0.0.1", server.port, { delayMs: 400 });
    const slowGw = await startTestGateway(`http://127.0.0.1:${slow.port}`, { endpointIdleMs: 100 });
    try {
      const abort = new AbortController();
      const pending = postInitialize(slowGw.mcpUrl(base), {}, { signal: abort.signal }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
      abort.abort();
      await pending;
      // The endpoint opens after the client left, then must close once idle.
      const deadline = Date.now() + 5_000;
      let seenOpen = false;
      while (Date.now() < deadline) {
        if (slowGw.gateway.endpoints.size > 0) seenOpen = true;
        if (seenOpen && slowGw.gateway.endpoints.size === 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(seenOpen).toBe(true);
      expect(slowGw.gateway.endpoints.size).toBe(0);
    } finally {
      await slowGw.close();
      await slow.close();
    }
  });
});
