import { createServer, type Server } from "node:http";
import { connect as connectTcp, type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseUpstreamAllowList } from "../gateway/upstream/index.js";
import { httpTool as tool, uniqueSlug } from "../server/testing/fixtures.js";
import { startTcpProxy } from "../server/testing/tcp-proxy.js";
import { useTestServer } from "../server/testing/use-test-server.js";
import {
  connectClient,
  MCP_POST_HEADERS,
  postInitialize,
  scrapeMetrics,
  startTestGateway,
  type McpTestClient,
  type TestGateway,
} from "./support/gateway.js";

// The gateway in operation (issue 11): /metrics with low-cardinality labels,
// request ids taken from the client and passed on to the release service, and
// the bounds on what one client can make it do — a per-address rate limit, a
// short memory of endpoints the service refused, a cap on concurrent tool
// calls, a cap on sessions per address, and HTTP timeouts that cut off slow
// clients without ending SSE streams.

const { server, tenant, api } = useTestServer({ tenants: 1 });
let upstream: Server;
let upstreamUrl = "";
/** Requests to the upstream's /slow wait here until released. */
let holdSlow: { arrived: Promise<void>; release: () => void } | undefined;
let slug = "";
let base = "";
let privateBase = "";
let gw: TestGateway;
const clients: McpTestClient[] = [];

function slowGate() {
  let arrive!: () => void;
  let release!: () => void;
  const arrived = new Promise<void>((r) => (arrive = r));
  const released = new Promise<void>((r) => (release = r));
  holdSlow = { arrived, release };
  return { arrive, released, arrived, release };
}

beforeAll(async () => {
  let gate = slowGate();
  upstream = createServer((req, res) => {
    req.resume();
    if (req.url?.startsWith("/slow")) {
      const current = gate;
      current.arrive();
      void current.released.then(() => {
        res.writeHead(200, { "content-type": "text/plain" }).end("slow done");
        gate = slowGate();
      });
      return;
    }
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  await api.deploy([
    tool("ok_tool", { httpMethod: "GET", path: "/ok", serverUrl: upstreamUrl }),
    tool("slow_tool", { httpMethod: "GET", path: "/slow", serverUrl: upstreamUrl }),
    tool("metadata_tool", { httpMethod: "GET", path: "/latest", serverUrl: "http://169.254.169.254" }),
  ]);
  slug = uniqueSlug("ts");
  const mcpSlug = uniqueSlug("mcp");
  await api.createToolset(slug, ["ok_tool", "slow_tool", "metadata_tool"]);
  await api.editLive(slug, { mcpSlug, mcpEnabled: true, mcpIsPublic: true });
  base = `${tenant.org}/${tenant.project}/${mcpSlug}`;
  const privateSlug = uniqueSlug("ts");
  const privateMcp = uniqueSlug("mcp");
  await api.createToolset(privateSlug, ["ok_tool"]);
  await api.editLive(privateSlug, { mcpSlug: privateMcp, mcpEnabled: true, mcpIsPublic: false });
  privateBase = `${tenant.org}/${tenant.project}/${privateMcp}`;
  gw = await startTestGateway(server.baseUrl, { upstreamAllow: parseUpstreamAllowList("127.0.0.1") });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await gw?.close();
  holdSlow?.release();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
});

async function connect(era: "2025-11-25" | "2026-07-28", url: string, options: Parameters<typeof connectClient>[2] = {}) {
  const c = await connectClient(era, url, options);
  clients.push(c);
  return c;
}

/** Polls `check` every 20 ms until it is true or `ms` passed; returns its last answer. */
async function until(check: () => boolean | Promise<boolean>, ms = 3_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const ping = (id: number | string = 1) => JSON.stringify({ jsonrpc: "2.0", id, method: "ping" });
const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  fetch(url, { method: "POST", headers: { ...MCP_POST_HEADERS, ...headers }, body });

describe("GET /metrics", () => {
  it("counts requests by era, method and outcome, sessions, list_changed and upstream calls, with no slug, key, tool or address", async () => {
    const own = await startTestGateway(server.baseUrl, { upstreamAllow: parseUpstreamAllowList("127.0.0.1") });
    try {
      const legacy = await connect("2025-11-25", own.mcpUrl(base), { key: tenant.consumerKey });
      const modern = await connect("2026-07-28", own.mcpUrl(base));
      await legacy.listTools();
      await modern.listTools();
      expect((await legacy.callTool("ok_tool")).isError).toBeFalsy();
      expect((await modern.callTool("metadata_tool")).isError).toBe(true);
      // A method nobody knows is counted as "other", never by its name.
      const odd = `evil/${uniqueSlug("m")}`;
      await post(own.mcpUrl(base), JSON.stringify({ jsonrpc: "2.0", id: 1, method: odd }));

      await api.editLive(slug, { toolUrns: ["tools:http:api:ok_tool", "tools:http:api:slow_tool"] });
      await Promise.all([legacy.waitForToolsChanged(0, 2_000), modern.waitForToolsChanged(0, 2_000)]);
      await api.editLive(slug, { toolUrns: ["tools:http:api:ok_tool", "tools:http:api:slow_tool", "tools:http:api:metadata_tool"] });
      await Promise.all([legacy.waitForToolsChanged(1, 2_000), modern.waitForToolsChanged(1, 2_000)]);

      const res = await fetch(`${own.url}/metrics`);
      expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
      const m = await scrapeMetrics(own.url);
      expect(m.value("gateway_mcp_requests_total", { era: "2025", method: "tools/list", outcome: "ok" })).toBe(1);
      expect(m.value("gateway_mcp_requests_total", { era: "2026", method: "tools/list", outcome: "ok" })).toBe(1);
      expect(m.value("gateway_mcp_requests_total", { era: "2025", method: "tools/call", outcome: "ok" })).toBe(1);
      expect(m.value("gateway_mcp_requests_total", { era: "2026", method: "tools/call", outcome: "refused" })).toBe(1);
      expect(m.value("gateway_mcp_requests_total", { era: "2025", method: "other", outcome: "http_400" })).toBe(1);
      expect(m.value("gateway_mcp_request_duration_seconds_count", { era: "2026", method: "tools/list" })).toBe(1);
      expect(m.value("gateway_sessions_open", { era: "2025" })).toBe(1);
      expect(m.value("gateway_sessions_open", { era: "2026" })).toBe(1);
      expect(m.value("gateway_list_changed_sent_total", { era: "2025", list: "tools" })).toBe(2);
      expect(m.value("gateway_list_changed_sent_total", { era: "2026", list: "tools" })).toBe(2);
      expect(m.value("gateway_upstream_calls_total", { outcome: "ok" })).toBe(1);
      expect(m.value("gateway_upstream_calls_total", { outcome: "refused" })).toBe(1);
      expect(m.value("gateway_upstream_call_duration_seconds_count", { outcome: "ok" })).toBe(1);
      // One watch per endpoint and credential: anonymous and the consumer key.
      expect(m.value("gateway_endpoint_watches_open")).toBe(2);
      expect(m.value("gateway_endpoint_opens_total", { result: "ok" })).toBe(2);
      expect(m.value("gateway_tool_calls_in_flight")).toBe(0);
      // The default process metrics.
      expect(m.text).toContain("process_cpu_user_seconds_total");
      expect(m.text).toContain("nodejs_eventloop_lag_seconds");
      for (const secret of [tenant.org, tenant.project, base.split("/")[2]!, tenant.consumerKey, "ok_tool", "metadata_tool", "127.0.0.1", odd]) {
        expect(m.text).not.toContain(secret);
      }
      // Scrapes are neither logged nor counted, and pass the Host check (a scraper uses the pod's address).
      expect(own.logs.some((l) => l["msg"] === "mcp request" && l["method"] === "GET" && l["endpoint"] === null)).toBe(false);
      expect(await rawStatus(own.url, "/metrics", { host: "10.1.2.3:8081" })).toBe(200);
    } finally {
      await own.close();
    }
  });

  it("counts watch reconnects, and a reopened watch still carries the id of the request that opened it", async () => {
    const proxy = await startTcpProxy("127.0.0.1", server.port);
    const own = await startTestGateway(`http://127.0.0.1:${proxy.port}`, { resolveTimeoutMs: 2_000 });
    try {
      const res = await postInitialize(own.mcpUrl(base), { "x-request-id": "opener-1" });
      expect(res.status).toBe(200);
      const session = res.headers.get("mcp-session-id") ?? "";
      await res.text();
      await proxy.cut();
      await proxy.restore();
      const opened = () => own.logs.filter((l) => l["msg"] === "watch opened");
      expect(await until(() => opened().length >= 2, 5_000)).toBe(true);
      for (const line of opened()) expect(line).toMatchObject({ request_id: "opener-1", service_request_id: "opener-1" });
      expect((await scrapeMetrics(own.url)).value("gateway_endpoint_watch_reconnects_total")).toBeGreaterThanOrEqual(1);
      await fetch(own.mcpUrl(base), { method: "DELETE", headers: { "mcp-session-id": session } });
    } finally {
      await own.close();
      await proxy.close();
    }
  });
});

/** The status of a raw HTTP GET (fetch cannot set Host). */
async function rawStatus(baseUrl: string, path: string, headers: Record<string, string>): Promise<number> {
  const { request } = await import("node:http");
  return new Promise<number>((resolve, reject) => {
    const req = request(`${baseUrl}${path}`, { headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("request ids", () => {
  it("a valid x-request-id is echoed, put on every log line of the request, and sent to the release service", async () => {
    const own = await startTestGateway(server.baseUrl);
    try {
      const res = await postInitialize(own.mcpUrl(base), { "x-request-id": "client-chosen.id:42" });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-request-id")).toBe("client-chosen.id:42");
      await res.text();
      const mine = own.logs.filter((l) => l["request_id"] === "client-chosen.id:42");
      expect(mine.map((l) => l["msg"])).toEqual(expect.arrayContaining(["watch opened", "mcp request"]));
      // The service echoes the id it used: the one the gateway sent.
      expect(mine.find((l) => l["msg"] === "watch opened")).toMatchObject({ service_request_id: "client-chosen.id:42" });
      expect(
        own.logs.filter((l) => l["msg"] === "mcp request" || l["msg"] === "watch opened").every((l) => typeof l["request_id"] === "string"),
      ).toBe(true);
      await fetch(own.mcpUrl(base), { method: "DELETE", headers: { "mcp-session-id": res.headers.get("mcp-session-id") ?? "" } });
    } finally {
      await own.close();
    }
  });

  it("a traceparent gives its trace id; an invalid id is replaced by a new one", async () => {
    const traced = await post(gw.mcpUrl(base), ping(), { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" });
    expect(traced.headers.get("x-request-id")).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    const zero = await post(gw.mcpUrl(base), ping(), { traceparent: `00-${"0".repeat(32)}-00f067aa0ba902b7-01` });
    expect(zero.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    for (const bad of ["has space", "x".repeat(129), 'quote"d', ""]) {
      const res = await post(gw.mcpUrl(base), ping(), { "x-request-id": bad });
      const id = res.headers.get("x-request-id");
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(id).not.toBe(bad);
    }
  });

  it("every answer carries one, refusals included", async () => {
    const answers = await Promise.all([
      fetch(`${gw.url}/nothing`),
      fetch(gw.mcpUrl(base), { method: "PUT" }),
      post(gw.mcpUrl(base), "{not json"),
      post(gw.mcpUrl(base), ping(), { origin: "https://evil.example.com" }),
      post(gw.mcpUrl(`${tenant.org}/${tenant.project}/missing-endpoint`), ping(), { "mcp-session-id": "x" }),
    ]);
    expect(answers.map((a) => a.status)).toEqual([404, 405, 400, 403, 401]);
    for (const a of answers) expect(a.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("rate limit per client address", () => {
  it("answers 429 with Retry-After and a JSON-RPC error past the burst, per address, and logs the refusal", async () => {
    const own = await startTestGateway(server.baseUrl, { rateLimitPerSecond: 1, rateLimitBurst: 3, trustedProxyHops: 1 });
    try {
      const from = (address: string) => post(own.mcpUrl(base), ping(), { "x-forwarded-for": address });
      for (let i = 0; i < 3; i++) expect((await from("203.0.113.7")).status).not.toBe(429);
      const limited = await from("203.0.113.7");
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(limited.headers.get("x-request-id")).not.toBeNull();
      expect(await limited.json()).toMatchObject({
        jsonrpc: "2.0",
        id: null,
        error: { code: -32000, message: expect.stringMatching(/rate limited/) },
      });
      // Another address has its own bucket; health checks and scrapes are not limited.
      expect((await from("198.51.100.9")).status).not.toBe(429);
      expect((await fetch(`${own.url}/healthz`, { headers: { "x-forwarded-for": "203.0.113.7" } })).status).toBe(200);
      expect((await fetch(`${own.url}/metrics`, { headers: { "x-forwarded-for": "203.0.113.7" } })).status).toBe(200);
      expect(await until(() => own.logs.some((l) => l["outcome"] === "rate_limited"))).toBe(true);
      expect(own.logs.find((l) => l["outcome"] === "rate_limited")).toMatchObject({ msg: "mcp request", status: 429, client: "203.0.113.7" });
      const m = await scrapeMetrics(own.url);
      expect(m.value("gateway_refusals_total", { reason: "rate_limited" })).toBe(1);
      expect(m.value("gateway_mcp_requests_total", { era: "none", method: "none", outcome: "rate_limited" })).toBe(1);
    } finally {
      await own.close();
    }
  });

  it("GATEWAY_RATE_LIMIT_PER_SECOND=0 turns it off", async () => {
    const own = await startTestGateway(server.baseUrl, { rateLimitPerSecond: 0, rateLimitBurst: 1 });
    try {
      const statuses = await Promise.all(Array.from({ length: 20 }, () => post(own.mcpUrl(base), ping()).then((r) => r.status)));
      expect(statuses).not.toContain(429);
    } finally {
      await own.close();
    }
  });
});

describe("refusals of the release service are remembered briefly", () => {
  it("repeated requests for a missing endpoint open one watch; the endpoint is reachable once created", async () => {
    const ttl = 1_500;
    const own = await startTestGateway(server.baseUrl, { notFoundTtlMs: ttl });
    try {
      const mcpSlug = uniqueSlug("later");
      const path = `${tenant.org}/${tenant.project}/${mcpSlug}`;
      const key = { authorization: `Bearer ${tenant.consumerKey}` };
      for (let i = 0; i < 3; i++) {
        const res = await postInitialize(own.mcpUrl(path), key);
        expect(res.status).toBe(404);
        await res.text();
      }
      let m = await scrapeMetrics(own.url);
      expect(m.value("gateway_endpoint_opens_total", { result: "not_found" })).toBe(1);
      expect(m.value("gateway_endpoint_refusals_cached_total")).toBe(2);

      // Created now: served once the remembered refusal has expired, within the TTL.
      const created = Date.now();
      const s = uniqueSlug("ts");
      await api.createToolset(s, ["ok_tool"]);
      await api.editLive(s, { mcpSlug, mcpEnabled: true, mcpIsPublic: false });
      let status = 0;
      const reachable = await until(async () => {
        const res = await postInitialize(own.mcpUrl(path), key);
        status = res.status;
        await res.text();
        if (status === 200)
          await fetch(own.mcpUrl(path), { method: "DELETE", headers: { ...key, "mcp-session-id": res.headers.get("mcp-session-id") ?? "" } });
        return status === 200;
      }, ttl + 3_000);
      expect(reachable).toBe(true);
      expect(Date.now() - created).toBeLessThan(ttl + 3_000);
      m = await scrapeMetrics(own.url);
      expect(m.value("gateway_endpoint_opens_total", { result: "not_found" })).toBe(1);
    } finally {
      await own.close();
    }
  });

  it("one credential's refusal never answers for another: an unknown key's 401, then a good key, then no key", async () => {
    const own = await startTestGateway(server.baseUrl, { notFoundTtlMs: 60_000 });
    try {
      const statusOf = async (headers: Record<string, string>) => {
        const res = await postInitialize(own.mcpUrl(privateBase), headers);
        await res.text();
        if (res.status === 200)
          await fetch(own.mcpUrl(privateBase), {
            method: "DELETE",
            headers: { ...headers, "mcp-session-id": res.headers.get("mcp-session-id") ?? "" },
          });
        return res.status;
      };
      expect(await statusOf({})).toBe(401);
      expect(await statusOf({ authorization: "Bearer tsr_not_a_key" })).toBe(401);
      expect(await statusOf({ authorization: "Bearer tsr_not_a_key" })).toBe(401);
      expect(await statusOf({ authorization: `Bearer ${tenant.consumerKey}` })).toBe(200);
      expect(await statusOf({})).toBe(401);
      const m = await scrapeMetrics(own.url);
      expect(m.value("gateway_endpoint_opens_total", { result: "unauthenticated" })).toBe(1);
      expect(m.value("gateway_endpoint_opens_total", { result: "not_found" })).toBe(1);
      expect(m.value("gateway_endpoint_refusals_cached_total")).toBe(2);
    } finally {
      await own.close();
    }
  });
});

describe("concurrent tool calls", () => {
  it("past GATEWAY_MAX_CONCURRENT_CALLS a call is answered overloaded at once, in both eras; the running one finishes", async () => {
    const own = await startTestGateway(server.baseUrl, { upstreamAllow: parseUpstreamAllowList("127.0.0.1"), maxConcurrentCalls: 1 });
    try {
      const runner = await connect("2025-11-25", own.mcpUrl(base));
      const legacy = await connect("2025-11-25", own.mcpUrl(base));
      const modern = await connect("2026-07-28", own.mcpUrl(base));
      const gate = holdSlow!;
      const running = runner.callTool("slow_tool");
      await gate.arrived;
      await expect(legacy.callTool("ok_tool")).rejects.toThrow(/overloaded/);
      await expect(modern.callTool("ok_tool")).rejects.toThrow(/overloaded/);
      expect((await scrapeMetrics(own.url)).value("gateway_tool_calls_in_flight")).toBe(1);
      gate.release();
      expect((await running).content).toEqual([{ type: "text", text: "slow done" }]);
      // The place is free again.
      expect(await until(async () => (await scrapeMetrics(own.url)).value("gateway_tool_calls_in_flight") === 0)).toBe(true);
      expect((await modern.callTool("ok_tool")).isError).toBeFalsy();
      const m = await scrapeMetrics(own.url);
      expect(m.value("gateway_refusals_total", { reason: "overloaded" })).toBe(2);
      expect(m.value("gateway_mcp_requests_total", { era: "2026", method: "tools/call", outcome: "overloaded" })).toBe(1);
    } finally {
      await own.close();
    }
  });

  it("the overloaded answer is a JSON-RPC error for the request's id, with Retry-After", async () => {
    const own = await startTestGateway(server.baseUrl, { upstreamAllow: parseUpstreamAllowList("127.0.0.1"), maxConcurrentCalls: 1 });
    try {
      const runner = await connect("2026-07-28", own.mcpUrl(base), { listen: false });
      const gate = holdSlow!;
      const running = runner.callTool("slow_tool");
      await gate.arrived;
      const res = await post(own.mcpUrl(base), JSON.stringify({ jsonrpc: "2.0", id: "call-7", method: "tools/call", params: { name: "ok_tool" } }));
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("1");
      expect(await res.json()).toMatchObject({ id: "call-7", error: { code: -32000, message: expect.stringMatching(/^overloaded/) } });
      gate.release();
      await running;
    } finally {
      await own.close();
    }
  });
});

describe("sessions per client address", () => {
  it("2025 sessions and 2026 listen streams count against GATEWAY_MAX_SESSIONS_PER_CLIENT; a closed one frees its place", async () => {
    const own = await startTestGateway(server.baseUrl, { maxSessionsPerClient: 2 });
    try {
      const legacy = await connectClient("2025-11-25", own.mcpUrl(base));
      const modern = await connect("2026-07-28", own.mcpUrl(base));
      const refused = await postInitialize(own.mcpUrl(base));
      expect(refused.status).toBe(429);
      expect(refused.headers.get("retry-after")).toBe("5");
      expect(await refused.json()).toMatchObject({
        error: { code: -32000, message: expect.stringMatching(/too many open sessions from this address/) },
      });
      await expect(connectClient("2026-07-28", own.mcpUrl(base))).rejects.toThrow();
      // Requests that open nothing are not sessions.
      const plain = await connect("2026-07-28", own.mcpUrl(base), { listen: false });
      expect((await plain.listTools()).tools.length).toBeGreaterThan(0);
      expect((await modern.listTools()).tools.length).toBeGreaterThan(0);

      await legacy.close();
      expect(await until(() => own.gateway.legacy.size === 0)).toBe(true);
      const again = await postInitialize(own.mcpUrl(base));
      expect(again.status).toBe(200);
      await again.text();
      const m = await scrapeMetrics(own.url);
      expect(m.value("gateway_refusals_total", { reason: "sessions_per_client" })).toBe(2);
      expect(m.value("gateway_sessions_open", { era: "2025" })).toBe(1);
      expect(m.value("gateway_sessions_open", { era: "2026" })).toBe(1);
      expect(own.logs.find((l) => l["outcome"] === "sessions_per_client")).toMatchObject({ status: 429, client: "127.0.0.1" });
    } finally {
      await own.close();
    }
  });
});

/** Opens a raw connection, writes `send`, and resolves with what came back once the server closed it (or "open" after `ms`). */
function rawExchange(url: string, send: string, ms: number): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connectTcp(Number(port), "127.0.0.1", () => {
      if (send !== "") socket.write(send);
    });
    let data = "";
    socket.on("data", (d: Buffer) => (data += d.toString()));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(`open: ${data}`);
    }, ms);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(data);
    });
    socket.on("error", () => undefined);
  });
}

describe("HTTP timeouts", () => {
  it("cut off a client that sends no headers, a slow body and an idle keep-alive connection, and leave SSE streams open", async () => {
    const own = await startTestGateway(server.baseUrl, { headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 2_000 });
    try {
      const legacy = await connect("2025-11-25", own.mcpUrl(base));
      const modern = await connect("2026-07-28", own.mcpUrl(base));
      const [silent, partial, slowBody] = await Promise.all([
        rawExchange(own.url, "", 5_000),
        rawExchange(own.url, "POST /mcp/a/b/c HTTP/1.1\r\nHost: 127.0.0.1\r\n", 5_000),
        rawExchange(
          own.url,
          `POST /mcp/${base} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"js`,
          5_000,
        ),
      ]);
      for (const answer of [silent, partial, slowBody]) expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(silent).toMatch(/\r\nx-request-id: [0-9a-f-]{36}\r\n/);
      // Each logged once: the two Node.js cut off before a request existed, the body by the request's own line.
      expect(own.logs.filter((l) => l["outcome"] === "request_timeout")).toHaveLength(2);
      expect(await until(() => own.logs.some((l) => l["outcome"] === "incomplete_body"))).toBe(true);
      expect(own.logs.filter((l) => l["outcome"] === "incomplete_body")).toMatchObject([{ msg: "mcp request", status: 408, endpoint: base }]);
      const keptAlive = await rawExchange(own.url, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 6_000);
      expect(keptAlive).toMatch(/^HTTP\/1\.1 200 /);
      expect(keptAlive.startsWith("open")).toBe(false);

      // Both streams outlived the request timeout: a change still reaches them.
      await api.editLive(slug, { toolUrns: ["tools:http:api:ok_tool"] });
      await Promise.all([legacy.waitForToolsChanged(0, 3_000), modern.waitForToolsChanged(0, 3_000)]);
      await api.editLive(slug, { toolUrns: ["tools:http:api:ok_tool", "tools:http:api:slow_tool", "tools:http:api:metadata_tool"] });
    } finally {
      await own.close();
    }
  });
});
