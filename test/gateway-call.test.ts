import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parseUpstreamAllowList } from "../gateway/upstream/index.js";
import { httpTool as tool, uniqueSlug, urn } from "../server/testing/fixtures.js";
import { useTestServer } from "../server/testing/use-test-server.js";
import { connectClient, ERAS, postInitialize, startTestGateway, type ElicitAnswer, type McpTestClient, type TestGateway } from "./support/gateway.js";

// tools/call through the gateway (issue 10, DESIGN §10), end to end on both
// eras: the HTTP tool runs against a real upstream server started here; the
// client's Authorization never reaches it, mcp-upstream-* headers do; a
// non-2xx answer is isError; a tool with `confirm` runs only after an accepted
// elicitation; an upstream the allow-list does not name is refused. (The
// mapping of every argument shape, timeouts and size limits are covered in
// gateway-upstream.test.ts against the same kind of server.)

const { server, tenant, api } = useTestServer({ tenants: 1 });
let upstream: Server;
let upstreamUrl = "";
const seen: { method: string; url: string; headers: IncomingHttpHeaders; body: string }[] = [];
let gw: TestGateway;
let refusingGw: TestGateway;
let base = "";
const clients: McpTestClient[] = [];

beforeAll(async () => {
  upstream = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      if (req.url?.startsWith("/fail")) {
        res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ error: "down for maintenance" }));
        return;
      }
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ method: req.method, url: req.url, body: body === "" ? null : JSON.parse(body) }));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

  // The pattern is a tenant's regular expression, which the gateway does not run (decision 62).
  const schema = { type: "object", properties: { id: { type: "string", pattern: "^[0-9]+$" } }, required: ["id"] };
  await api.deploy([
    tool("get_item", { httpMethod: "GET", path: "/items/{id}", serverUrl: upstreamUrl, inputSchema: schema }),
    tool("create_item", { httpMethod: "POST", path: "/items", serverUrl: upstreamUrl }),
    tool("fail", { httpMethod: "GET", path: "/fail", serverUrl: upstreamUrl }),
    tool("delete_item", { httpMethod: "DELETE", path: "/items/{id}", serverUrl: upstreamUrl, inputSchema: schema }),
  ]);
  const slug = uniqueSlug("ts");
  const mcpSlug = uniqueSlug("mcp");
  await api.createToolset(slug, ["get_item", "create_item", "fail", "delete_item"]);
  await api.editLive(slug, { mcpSlug, mcpEnabled: true, mcpIsPublic: false });
  await api.upsertVariation({ toolsetSlug: slug }, { srcToolUrn: urn("delete_item"), confirm: true, confirmPrompt: "Delete this item for good?" });
  base = `${tenant.org}/${tenant.project}/${mcpSlug}`;
  gw = await startTestGateway(server.baseUrl, { upstreamAllow: parseUpstreamAllowList("127.0.0.1") });
  // The default allow-list: loopback upstreams are refused.
  refusingGw = await startTestGateway(server.baseUrl);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await gw?.close();
  await refusingGw?.close();
  await new Promise((r) => upstream?.close(r));
});
beforeEach(() => {
  seen.length = 0;
});

const text = (r: { content: unknown[] }) => (r.content[0] as { text: string }).text;

describe.each(ERAS)("on %s", (era) => {
  const connect = async (options: { elicit?: ElicitAnswer; headers?: Record<string, string>; via?: TestGateway } = {}) => {
    const c = await connectClient(era, (options.via ?? gw).mcpUrl(base), {
      key: tenant.consumerKey,
      listen: false,
      ...(options.elicit ? { elicit: options.elicit } : {}),
      ...(options.headers ? { headers: options.headers } : {}),
    });
    clients.push(c);
    return c;
  };

  it("maps path parameters and the JSON body, and answers pretty-printed JSON", async () => {
    const c = await connect();
    const got = await c.callTool("get_item", { id: "a/b" });
    expect(got.isError).toBeFalsy();
    expect(text(got)).toBe(JSON.stringify({ method: "GET", url: "/items/a%2Fb", body: null }, null, 2));
    const created = await c.callTool("create_item", { name: "rex", tags: ["dog"] });
    expect(JSON.parse(text(created))).toEqual({ method: "POST", url: "/items", body: { name: "rex", tags: ["dog"] } });
  });

  it("forwards mcp-upstream-* headers and never the client's Authorization", async () => {
    const c = await connect({ headers: { "mcp-upstream-x-api-key": "upstream-secret", "mcp-upstream-authorization": "Bearer upstream-token" } });
    await c.callTool("get_item", { id: "1" });
    const request = seen.find((s) => s.url === "/items/1");
    expect(request?.headers["x-api-key"]).toBe("upstream-secret");
    expect(request?.headers["authorization"]).toBe("Bearer upstream-token");
    expect(JSON.stringify(seen)).not.toContain(tenant.consumerKey);
    const plain = await connect();
    await plain.callTool("get_item", { id: "2" });
    expect(seen.find((s) => s.url === "/items/2")?.headers["authorization"]).toBeUndefined();
  });

  it("a non-2xx answer is an error result with the status", async () => {
    const c = await connect();
    const r = await c.callTool("fail");
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/^HTTP 503/);
    expect(text(r)).toContain("down for maintenance");
  });

  it("arguments that do not match the inputSchema are an error result, before any confirmation or call", async () => {
    const asked: string[] = [];
    const c = await connect({ elicit: (m) => (asked.push(m), { action: "accept", content: { confirm: true } }) });
    const missing = await c.callTool("get_item", {});
    expect(missing.isError).toBe(true);
    expect(text(missing)).toMatch(/invalid arguments for tool "get_item": arguments must have required property 'id'/);
    const wrongType = await c.callTool("delete_item", { id: 5 });
    expect(text(wrongType)).toMatch(/arguments\/id must be string/);
    expect(asked).toEqual([]);
    expect(seen).toEqual([]);
    // `pattern` is not checked by the gateway: "a/b" does not match ^[0-9]+$ and still reaches the upstream.
    expect((await c.callTool("get_item", { id: "a/b" })).isError).toBeFalsy();
  });

  it("an unknown tool is a protocol error", async () => {
    const c = await connect();
    const err = await c.callTool("nope").then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(/unknown tool: nope/);
    expect(err?.message).not.toMatch(/MCP error -32602: MCP error/);
  });

  it("a loopback upstream is refused by the default allow-list, and nothing is called", async () => {
    const c = await connect({ via: refusingGw });
    const r = await c.callTool("get_item", { id: "3" });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/loopback/);
    expect(seen).toEqual([]);
  });

  describe("a tool with confirm", () => {
    it("runs after the user accepts, showing confirm_prompt", async () => {
      const asked: string[] = [];
      const c = await connect({
        elicit: (message) => {
          asked.push(message);
          return { action: "accept", content: { confirm: true } };
        },
      });
      const r = await c.callTool("delete_item", { id: "9" });
      expect(r.isError).toBeFalsy();
      expect(asked).toEqual(["Delete this item for good?"]);
      expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual(["DELETE /items/9"]);
    });

    it("is not called when the user declines", async () => {
      const c = await connect({ elicit: () => ({ action: "decline" }) });
      const r = await c.callTool("delete_item", { id: "9" });
      expect(r.isError).toBe(true);
      expect(text(r)).toMatch(/did not confirm/);
      expect(seen).toEqual([]);
    });

    it("is an error result, and not called, for a client without elicitation", async () => {
      const c = await connect();
      const r = await c.callTool("delete_item", { id: "9" });
      expect(r.isError).toBe(true);
      expect(text(r)).toMatch(/does not support elicitation/);
      expect(seen).toEqual([]);
    });
  });
});

describe("2025-11-25 confirmation without a GET stream", () => {
  /** Reads JSON-RPC messages off an SSE response as they arrive. */
  function sseMessages(res: Response): () => Promise<Record<string, unknown>> {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    const queue: Record<string, unknown>[] = [];
    return async () => {
      for (;;) {
        const next = queue.shift();
        if (next !== undefined) return next;
        const { done, value } = await reader.read();
        if (done) throw new Error("stream ended");
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = event
            .split("\n")
            .filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5).trim())
            .join("\n");
          if (data !== "") queue.push(JSON.parse(data) as Record<string, unknown>);
        }
      }
    };
  }

  it("asks on the tools/call's own stream, and runs the tool once accepted", async () => {
    const url = gw.mcpUrl(base);
    const headers = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      authorization: `Bearer ${tenant.consumerKey}`,
    };
    const init = await postInitialize(url, headers, { capabilities: { elicitation: {} } });
    await init.text();
    const session = { ...headers, "mcp-session-id": init.headers.get("mcp-session-id") ?? "", "mcp-protocol-version": "2025-11-25" };
    await (
      await fetch(url, { method: "POST", headers: session, body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) })
    ).text();
    // No GET stream is ever opened by this client.
    const call = await fetch(url, {
      method: "POST",
      headers: session,
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "delete_item", arguments: { id: "7" } } }),
    });
    const next = sseMessages(call);
    const ask = await next();
    expect(ask).toMatchObject({ method: "elicitation/create", params: { message: "Delete this item for good?" } });
    expect(seen).toEqual([]);
    const answered = await fetch(url, {
      method: "POST",
      headers: session,
      body: JSON.stringify({ jsonrpc: "2.0", id: ask["id"], result: { action: "accept", content: { confirm: true } } }),
    });
    expect(answered.status).toBe(202);
    const result = await next();
    expect(result).toMatchObject({ id: 2, result: { content: [{ type: "text" }] } });
    expect((result["result"] as { isError?: boolean }).isError).toBeFalsy();
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual(["DELETE /items/7"]);
    await fetch(url, { method: "DELETE", headers: session });
  });
});
