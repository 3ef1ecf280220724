import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Client as LegacyClient } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as LegacyTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseUpstreamAllowList } from "../gateway/upstream/index.js";
import { httpTool as tool, uniqueSlug } from "../server/testing/fixtures.js";
import { useTestServer } from "../server/testing/use-test-server.js";
import { Rng } from "./support/fuzz-rpc.js";
import { connectClient, ERAS, scrapeMetrics, startTestGateway, type TestGateway } from "./support/gateway.js";

// Every MCP method of the gateway, in both protocol eras, fed bad input
// (issue 11): malformed JSON, wrong types, batches, huge and odd ids, boundary
// values, wrong content types and headers. Requests start from what the real
// SDK clients send (recorded below) and are mutated by a seeded PRNG; the
// seed is in every failure message (GATEWAY_FUZZ_SEED and GATEWAY_FUZZ_COUNT
// replay or widen a run). Whatever comes in: never a 5xx, never an internal
// JSON-RPC error (-32603), one log line per request, and afterwards the
// gateway is healthy and serves what it served before.

const SEED = Number(process.env["GATEWAY_FUZZ_SEED"] ?? 0x5eed11);
const COUNT = Number(process.env["GATEWAY_FUZZ_COUNT"] ?? 600);
/** How long an SSE answer is read before the case moves on (listen and GET streams never end by themselves). */
const STREAM_READ_MS = 150;

const { server, tenant, api } = useTestServer({ tenants: 1 });
let upstream: Server;
let gw: TestGateway;
let slug = "";
let base = "";
let etagBefore = "";
/** Requests the SDK clients sent, by era: the starting points of the cases. */
const recorded: Record<(typeof ERAS)[number], Recorded[]> = { "2025-11-25": [], "2026-07-28": [] };
let sessionId = "";
const closers: (() => Promise<unknown>)[] = [];

interface Recorded {
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

/** A fetch that keeps a copy of every POST body and its headers. */
function recorder(into: Recorded[]): typeof fetch {
  return async (input, init) => {
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
    if (typeof init?.body === "string") into.push({ method: init.method ?? "GET", headers, body: JSON.parse(init.body) });
    return fetch(input, init);
  };
}

beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  await api.deploy([
    tool("echo", {
      httpMethod: "POST",
      path: "/echo/{id}",
      serverUrl: upstreamUrl,
      inputSchema: {
        type: "object",
        properties: { id: { type: "integer", minimum: 0 }, tags: { type: "array", items: { type: "string" } } },
        required: ["id"],
      },
    }),
    tool("plain", { httpMethod: "GET", path: "/plain", serverUrl: upstreamUrl }),
  ]);
  await api.upsertPrompt("greet", "Hello {{name}}", {
    arguments: { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
  });
  slug = uniqueSlug("ts");
  const mcpSlug = uniqueSlug("mcp");
  await api.createToolset(slug, ["echo", "plain"], ["greet"]);
  await api.editLive(slug, { mcpSlug, mcpEnabled: true, mcpIsPublic: true });
  base = `${tenant.org}/${tenant.project}/${mcpSlug}`;
  etagBefore = (await api.resolve(slug)).etag;
  gw = await startTestGateway(server.baseUrl, { upstreamAllow: parseUpstreamAllowList("127.0.0.1"), maxRequestBytes: 64 * 1024 });

  // What real clients send, era by era: every method the gateway serves.
  const url = new URL(gw.mcpUrl(base));
  const legacy = new LegacyClient({ name: "fuzz-legacy", version: "1" }, { capabilities: {} });
  const legacyTransport = new LegacyTransport(url, { fetch: recorder(recorded["2025-11-25"]) });
  await legacy.connect(legacyTransport);
  sessionId = legacyTransport.sessionId ?? "";
  await legacy.ping();
  await legacy.listTools();
  await legacy.callTool({ name: "echo", arguments: { id: 1, tags: ["a"] } });
  await legacy.listPrompts();
  await legacy.getPrompt({ name: "greet", arguments: { name: "x" } });
  closers.push(() => legacy.close());

  const modern = new ModernClient({ name: "fuzz-modern", version: "1" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
  await modern.connect(new ModernTransport(url, { fetch: recorder(recorded["2026-07-28"]) }));
  // No ping in 2026-07-28 (server/discover is its probe); the cases still send one.
  await modern.listTools(undefined, { cacheMode: "bypass" });
  await modern.callTool({ name: "echo", arguments: { id: 1 } });
  await modern.listPrompts(undefined, { cacheMode: "bypass" });
  await modern.getPrompt({ name: "greet", arguments: { name: "x" } });
  const sub = await modern.listen({ toolsListChanged: true, promptsListChanged: true });
  closers.push(
    () => sub.close(),
    () => modern.close(),
  );
  for (const era of ERAS) expect(recorded[era].length).toBeGreaterThanOrEqual(6);
});
afterAll(async () => {
  for (const close of closers) await close().catch(() => undefined);
  await gw?.close();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
});

const METHODS = [
  "initialize",
  "ping",
  "tools/list",
  "tools/call",
  "prompts/list",
  "prompts/get",
  "resources/list",
  "resources/read",
  "resources/templates/list",
  "resources/subscribe",
  "resources/unsubscribe",
  "completion/complete",
  "logging/setLevel",
  "notifications/initialized",
  "notifications/cancelled",
  "notifications/progress",
  "notifications/roots/list_changed",
  "subscriptions/listen",
  "server/discover",
  "sampling/createMessage",
  "elicitation/create",
  "",
  "tools/",
  "__proto__",
  "constructor",
  "x".repeat(300),
  "tools/list\u0000",
] as const;

const STRINGS = [
  "",
  " ",
  "echo",
  "greet",
  "plain",
  "x".repeat(5000),
  "é🙂\u202e",
  "\u0000",
  "\ud800",
  "../../etc/passwd",
  "{{name}}",
  "null",
  "__proto__",
];
const NUMBERS = [0, -0, 1, -1, 0.5, 2 ** 31, -(2 ** 31), 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e308, 5e-324];

/** A random JSON value, at most `depth` deep. */
function value(rng: Rng, depth = 3): unknown {
  switch (rng.int(depth > 0 ? 8 : 5)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick(NUMBERS);
    case 3:
    case 4:
      return rng.pick(STRINGS);
    case 5:
      return Array.from({ length: rng.int(4) }, () => value(rng, depth - 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(4); i > 0; i--)
        o[rng.pick(["name", "arguments", "id", "uri", "cursor", "_meta", "__proto__", "constructor", "level", "notifications", rng.pick(STRINGS)])] =
          value(rng, depth - 1);
      return o;
    }
  }
}

const IDS = [1, 0, -1, 2 ** 53 + 1, 1e300, -1e300, 0.5, "", "id", "x".repeat(2000), null, true, [], {}, [1], { a: 1 }];

/** A mutated copy of a recorded message. */
function mutateMessage(rng: Rng, message: unknown): unknown {
  const m = structuredClone(message) as Record<string, unknown>;
  if (typeof m !== "object" || m === null) return m;
  const mutations = 1 + rng.int(3);
  for (let i = 0; i < mutations; i++) {
    switch (rng.int(10)) {
      case 0:
        m["method"] = rng.chance(0.8) ? rng.pick(METHODS) : value(rng, 1);
        break;
      case 1:
        m["id"] = rng.pick(IDS);
        if (rng.chance(0.2)) delete m["id"];
        break;
      case 2:
        m["jsonrpc"] = rng.pick(["1.0", "2.0 ", 2, null, undefined]);
        break;
      case 3:
        m["params"] = value(rng);
        break;
      case 4: {
        // A field of params replaced (name, arguments, _meta, notifications…).
        const params = (typeof m["params"] === "object" && m["params"] !== null ? m["params"] : (m["params"] = {})) as Record<string, unknown>;
        const keys = [...Object.keys(params), "name", "arguments", "_meta", "cursor"];
        params[rng.pick(keys)] = value(rng);
        break;
      }
      case 5: {
        // The 2026 envelope (or the 2025 capabilities) given wrong shapes.
        const params = (typeof m["params"] === "object" && m["params"] !== null ? m["params"] : (m["params"] = {})) as Record<string, unknown>;
        const meta = (typeof params["_meta"] === "object" && params["_meta"] !== null ? params["_meta"] : (params["_meta"] = {})) as Record<
          string,
          unknown
        >;
        const keys = [...Object.keys(meta), "io.modelcontextprotocol/protocolVersion", "io.modelcontextprotocol/clientCapabilities", "progressToken"];
        meta[rng.pick(keys)] = rng.chance(0.5) ? value(rng) : rng.pick(["2026-07-28", "2025-11-25", "1999-01-01", ""]);
        break;
      }
      case 6:
        // Arguments of tools/call and prompts/get at their boundaries.
        m["params"] = {
          ...(typeof m["params"] === "object" ? (m["params"] as object) : {}),
          name: rng.pick(["echo", "plain", "greet", "missing", ...STRINGS]),
          arguments: rng.pick([
            { id: rng.pick(NUMBERS) },
            { id: -1 },
            { id: "1" },
            { name: rng.pick(STRINGS) },
            { tags: value(rng) },
            value(rng),
            {},
          ]),
        };
        break;
      case 7:
        delete m[rng.pick(["method", "params", "jsonrpc", "id"])];
        break;
      case 8:
        m["result"] = value(rng);
        break;
      default:
        m[rng.pick(["extra", "__proto__", "error"])] = value(rng);
    }
  }
  return m;
}

/** A request body: mostly a mutated message, sometimes broken framing. */
function body(rng: Rng, message: unknown): string {
  switch (rng.int(12)) {
    case 0:
      return JSON.stringify(message).slice(0, rng.int(40));
    case 1:
      return `${JSON.stringify(message)}${rng.pick(["}", "garbage", "\u0000", ",", " []"])}`;
    case 2:
      return JSON.stringify(Array.from({ length: rng.pick([0, 1, 2, 50, 150]) }, () => (rng.chance(0.5) ? message : value(rng))));
    case 3:
      return JSON.stringify(value(rng, 1));
    case 4:
      return `${"[".repeat(rng.pick([100, 1_000, 20_000]))}${"]".repeat(rng.chance(0.5) ? 0 : 20_000)}`;
    case 5:
      return JSON.stringify({ ...(message as object), params: { deep: JSON.parse(`${'{"a":'.repeat(3_000)}1${"}".repeat(3_000)}`) } });
    case 6:
      return rng.pick(["", " ", "null", "\ufeff{}", "\xff\xfe", '{"jsonrpc":"2.0","id":1,"method":"ping"'.repeat(100)]);
    default:
      return JSON.stringify(message);
  }
}

interface Case {
  httpMethod: string;
  headers: Record<string, string>;
  body: string | undefined;
  /** What the case started from, for the failure message. */
  from: string;
}

function makeCase(rng: Rng, i: number): Case {
  const era = rng.pick(ERAS);
  const template = rng.pick(recorded[era]);
  const headers: Record<string, string> = { ...template.headers, "x-request-id": `fuzz-${i}` };
  delete headers["content-length"];
  if (era === "2025-11-25" && template.headers["mcp-session-id"] !== undefined) headers["mcp-session-id"] = sessionId;
  const message = rng.chance(0.85) ? mutateMessage(rng, template.body) : template.body;
  let httpMethod = "POST";
  let text: string | undefined = body(rng, message);
  switch (rng.int(14)) {
    case 0:
      headers["content-type"] = rng.pick([
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin1",
        "",
      ]);
      break;
    case 1:
      headers["accept"] = rng.pick(["application/json", "text/event-stream", "*/*", "text/html", ""]);
      break;
    case 2:
      headers["mcp-protocol-version"] = rng.pick(["2026-07-28", "2025-11-25", "2025-03-26", "garbage", "", "2026-07-28, 2025-11-25"]);
      break;
    case 3:
      headers["mcp-session-id"] = rng.pick([sessionId, "", "not-a-session", "x".repeat(500), `${sessionId}x`]);
      break;
    case 4:
      // GET (the 2025 stream) and DELETE with a session that is not ours to end.
      httpMethod = rng.pick(["GET", "DELETE", "PUT", "PATCH"]);
      text = httpMethod === "GET" || httpMethod === "DELETE" ? undefined : text;
      if (httpMethod === "DELETE") headers["mcp-session-id"] = "not-this-session";
      break;
    case 5:
      headers["authorization"] = rng.pick(["Bearer", "Bearer ", "Basic abc", "Bearer tsr_unknown", `Bearer ${"a".repeat(3000)}`]);
      break;
    case 6:
      headers["x-request-id"] = rng.pick(["", "with space", "x".repeat(200), "ok-id"]);
      break;
    default:
      break;
  }
  return { httpMethod, headers, body: text, from: `${era} ${String((template.body as { method?: unknown }).method)}` };
}

/** Reads an answer's JSON-RPC error codes; an SSE answer is read for STREAM_READ_MS at most. */
async function errorCodes(res: Response): Promise<number[]> {
  const type = res.headers.get("content-type") ?? "";
  let text = "";
  if (type.startsWith("text/event-stream") && res.body !== null) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const stop = setTimeout(() => void reader.cancel().catch(() => undefined), STREAM_READ_MS);
    try {
      for (;;) {
        const { done, value: chunk } = await reader.read();
        if (done) break;
        text += decoder.decode(chunk, { stream: true });
      }
    } catch {
      // cancelled
    } finally {
      clearTimeout(stop);
    }
    text = text
      .split("\n")
      .filter((l) => l.startsWith("data:"))
      .map((l) => l.slice(5))
      .join("\n");
  } else {
    text = await res.text();
  }
  const codes: number[] = [];
  for (const chunk of text.split("\n")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(chunk);
    } catch {
      continue;
    }
    for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
      const code = (m as { error?: { code?: unknown } } | null)?.error?.code;
      if (typeof code === "number") codes.push(code);
    }
  }
  return codes;
}

describe(`the gateway under bad input (seed ${SEED}, ${COUNT} requests)`, () => {
  it("never answers 5xx or an internal error, logs every request once, and stays healthy with its content unchanged", async () => {
    const rng = new Rng(SEED);
    const cases = Array.from({ length: COUNT }, (_, i) => makeCase(rng, i));
    const failures: string[] = [];
    /** "<era> <status>" and "<era> <JSON-RPC error code>" seen, so a generator that stopped reaching the handlers fails too. */
    const seen = new Set<string>();
    // Eight at a time: some answers are streams read for STREAM_READ_MS.
    for (let start = 0; start < cases.length; start += 8) {
      await Promise.all(
        cases.slice(start, start + 8).map(async (c, j) => {
          const i = start + j;
          const res = await fetch(gw.mcpUrl(base), {
            method: c.httpMethod,
            headers: c.headers,
            ...(c.body !== undefined ? { body: c.body } : {}),
          });
          const codes = await errorCodes(res);
          const describeCase = () => `case ${i} (seed ${SEED}, from ${c.from}, ${c.httpMethod}): ${c.body?.slice(0, 800) ?? "(no body)"}`;
          seen.add(`${c.from.split(" ")[0]} ${res.status}`);
          for (const code of codes) seen.add(`${c.from.split(" ")[0]} ${code}`);
          if (res.status >= 500) failures.push(`${describeCase()} → HTTP ${res.status}`);
          if (codes.includes(-32603)) failures.push(`${describeCase()} → JSON-RPC -32603`);
        }),
      );
    }
    expect(failures).toEqual([]);
    for (const era of ERAS) {
      for (const answer of ["200", "400", "415", "-32602", "-32700", "-32600"]) expect([...seen], `${era} ${answer}`).toContain(`${era} ${answer}`);
    }

    // One log line per request, none of them an internal failure.
    await new Promise((r) => setTimeout(r, 200));
    const lines = gw.logs.filter((l) => l["msg"] === "mcp request");
    cases.forEach((c, i) => {
      if (c.headers["x-request-id"] !== `fuzz-${i}`) return;
      expect(lines.filter((l) => l["request_id"] === `fuzz-${i}`).length, `log lines of case ${i}`).toBe(1);
    });
    expect(gw.logs.filter((l) => l["level"] === "error")).toEqual([]);
    const m = await scrapeMetrics(gw.url);
    expect(m.text).not.toMatch(/outcome="http_5\d\d"/);
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();

    // Healthy, and serving what it served before.
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    expect((await api.resolve(slug)).etag).toBe(etagBefore);
    for (const era of ERAS) {
      const client = await connectClient(era, gw.mcpUrl(base), { listen: false });
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["echo", "plain"]);
      expect((await client.callTool("echo", { id: 3 })).isError).toBeFalsy();
      await client.close();
    }
  });
});
