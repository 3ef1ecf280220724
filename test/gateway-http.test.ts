import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpTool as tool, uniqueSlug } from "../server/testing/fixtures.js";
import { useTestServer } from "../server/testing/use-test-server.js";
import { connectClient, ERAS, postInitialize, startTestGateway, type TestGateway } from "./support/gateway.js";

// The gateway's HTTP edge (issue 10): bounded request bodies, clear answers to
// malformed requests, and one WatchToolset per endpoint and credential shared
// by all its clients and closed after the last one leaves.

const { server, tenant, api } = useTestServer({ tenants: 1 });
let gw: TestGateway;
let base = "";

beforeAll(async () => {
  await api.deploy([tool("a")]);
  const slug = uniqueSlug("ts");
  const mcpSlug = uniqueSlug("mcp");
  await api.createToolset(slug, ["a"]);
  await api.editLive(slug, { mcpSlug, mcpEnabled: true, mcpIsPublic: true });
  base = `${tenant.org}/${tenant.project}/${mcpSlug}`;
  gw = await startTestGateway(server.baseUrl, { maxRequestBytes: 4096, endpointIdleMs: 200 });
});
afterAll(async () => {
  await gw?.close();
});

const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(gw.mcpUrl(path), {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
    body,
  });

describe("malformed requests", () => {
  it("a body over GATEWAY_MAX_REQUEST_BYTES is 413", async () => {
    const res = await post(base, JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: { pad: "x".repeat(5000) } }));
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/over 4096 bytes/);
    // Refused requests are logged too.
    expect(gw.logs.find((l) => l["msg"] === "mcp request" && l["status"] === 413)).toMatchObject({ endpoint: base, outcome: "http_413" });
  });

  it("a body that is not JSON is a 400 parse error", async () => {
    const res = await post(base, "{not json");
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: -32700 } });
  });

  it("a 2025-era request without a session (other than initialize) is 400", async () => {
    const res = await post(base, JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }));
    expect(res.status).toBe(400);
  });

  it("an unknown session of a valid endpoint is 404 (re-initialize)", async () => {
    const res = await post(base, JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }), { "mcp-session-id": "no-such-session" });
    expect(res.status).toBe(404);
  });

  it("paths that name no endpoint are 404; other methods 405; /healthz answers", async () => {
    for (const path of ["", `${base}/releases/0`, `${base}/releases/x`, `${base}/other`, "UPPER/case/slug"]) {
      expect((await post(path, "{}")).status).toBe(404);
    }
    expect((await fetch(`${gw.url}/`)).status).toBe(404);
    expect((await fetch(gw.mcpUrl(base), { method: "PUT" })).status).toBe(405);
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
  });
});

/** Waits (at most 2 s) until the gateway holds `n` endpoints. */
async function settle(n: number): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (gw.gateway.endpoints.size > n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
}

describe("browser clients", () => {
  it("an allowed Origin gets CORS answers: a preflight, and exposed session headers", async () => {
    const origin = "http://localhost:6274";
    const preflight = await fetch(gw.mcpUrl(base), {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type, mcp-session-id" },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(origin);
    expect(preflight.headers.get("access-control-allow-headers")).toBe("content-type, mcp-session-id");
    const init = await postInitialize(gw.mcpUrl(base), { origin });
    expect(init.status).toBe(200);
    expect(init.headers.get("access-control-allow-origin")).toBe(origin);
    expect(init.headers.get("access-control-expose-headers")).toContain("Mcp-Session-Id");
    await init.text();
    await fetch(gw.mcpUrl(base), { method: "DELETE", headers: { origin, "mcp-session-id": init.headers.get("mcp-session-id") ?? "" } });
    // A foreign origin gets no CORS answer at all.
    const foreign = await fetch(gw.mcpUrl(base), { method: "OPTIONS", headers: { origin: "https://evil.example.com" } });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("one watch per endpoint and credential", () => {
  it("is shared by the clients of both eras and closed after the last leaves", async () => {
    // Endpoints earlier tests opened close once idle (200 ms here).
    await settle(0);
    const before = 0;
    expect(gw.gateway.endpoints.size).toBe(before);
    const clients = await Promise.all([...ERAS, ...ERAS].map((era) => connectClient(era, gw.mcpUrl(base))));
    await Promise.all(clients.map((c) => c.listTools()));
    expect(gw.gateway.endpoints.size).toBe(before + 1);
    const keyed = await connectClient("2025-11-25", gw.mcpUrl(base), { key: tenant.consumerKey });
    expect(gw.gateway.endpoints.size).toBe(before + 2);
    await Promise.all([...clients, keyed].map((c) => c.close()));
    await settle(before);
    expect(gw.gateway.endpoints.size).toBe(before);
    expect(gw.gateway.legacy.size).toBe(0);
  });
});

describe("bounded listen streams", () => {
  it("refuses a 2026-07-28 listen stream beyond GATEWAY_LISTEN_STREAMS_PER_ENDPOINT", async () => {
    const small = await startTestGateway(server.baseUrl, { listenStreamsPerEndpoint: 2 });
    const open: Awaited<ReturnType<typeof connectClient>>[] = [];
    try {
      for (let i = 0; i < 2; i++) open.push(await connectClient("2026-07-28", small.mcpUrl(base)));
      await expect(connectClient("2026-07-28", small.mcpUrl(base))).rejects.toThrow(/Subscription limit/);
    } finally {
      await Promise.all(open.map((c) => c.close()));
      await small.close();
    }
  });
});

describe("shutdown", () => {
  it("ends every session and stream and closes every watch", async () => {
    const own = await startTestGateway(server.baseUrl);
    const clients = await Promise.all(ERAS.map((era) => connectClient(era, own.mcpUrl(base))));
    await Promise.all(clients.map((c) => c.listTools()));
    expect(own.gateway.endpoints.size).toBe(1);
    await own.close();
    expect(own.gateway.endpoints.size).toBe(0);
    expect(own.gateway.legacy.size).toBe(0);
    const ended = await Promise.race([clients[1]!.streamEnded.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 2_000))]);
    expect(ended).toBe(true);
    await expect(fetch(own.mcpUrl(base), { method: "POST", body: "{}" })).rejects.toThrow();
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  });
});
