import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import {
  callHttpTool,
  parseUpstreamAllowList,
  UpstreamGuard,
  UpstreamRefusedError,
  type HttpTool,
  type ResolvedAddress,
  type UpstreamCallOptions,
  type UpstreamCallResult,
} from "../gateway/upstream/index.js";

/** What the upstream test server saw. */
interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const recorded: Recorded[] = [];
/** Server-side events: how streamed and unanswered responses ended. */
const events: string[] = [];

const HUGE_BYTES = 4 * 1024 * 1024;

function route(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
  const path = (req.url ?? "").replace(/\?.*$/, "");
  if (path.startsWith("/api/echo")) {
    res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
    res.end(JSON.stringify({ method: req.method, url: req.url, body }));
  } else if (path === "/api/text") {
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
    res.end("héllo ✓\nplain");
  } else if (path === "/api/missing") {
    res.writeHead(404, { "content-type": "application/json" });
    res.end('{"error":"no such thing"}');
  } else if (path === "/api/fail") {
    res.writeHead(500, { "content-type": "text/plain" });
    res.end("boom");
  } else if (path === "/api/empty") {
    res.writeHead(204);
    res.end();
  } else if (path === "/api/bad-json") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end("not json {");
  } else if (path === "/api/redirect") {
    res.writeHead(302, { location: "/api/echo/redirected" });
    res.end();
  } else if (path === "/api/slow") {
    res.on("close", () => events.push("slow closed"));
  } else if (path === "/api/huge") {
    // Streamed without a content-length, so only counting the bytes can stop it.
    res.writeHead(200, { "content-type": "text/plain" });
    res.on("error", () => {});
    res.on("close", () => events.push(res.writableFinished ? "huge finished" : "huge aborted"));
    const chunk = Buffer.alloc(16 * 1024, "x");
    let sent = 0;
    const pump = (): void => {
      while (sent < HUGE_BYTES) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
      res.end();
    };
    pump();
  } else if (path === "/api/huge-declared") {
    res.writeHead(200, { "content-type": "text/plain", "content-length": HUGE_BYTES });
    res.on("error", () => {});
    res.end(Buffer.alloc(HUGE_BYTES, "y"));
  } else {
    res.writeHead(400);
    res.end("unknown route");
  }
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    recorded.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
    route(req, res, body);
  });
});

let port = 0;
let base = "";

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}/api/`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
});

beforeEach(() => {
  recorded.length = 0;
  events.length = 0;
});

/** The test server is on loopback, so it must be allowed explicitly. */
const allowTestServer = new UpstreamGuard(parseUpstreamAllowList("127.0.0.1"));

function tool(fields: Partial<HttpTool> = {}): HttpTool {
  return { name: "test_tool", httpMethod: "GET", path: "/echo", serverUrl: base, inputSchema: undefined, ...fields };
}

function call(
  t: HttpTool,
  args: Record<string, unknown> = {},
  headers: Record<string, string | string[] | undefined> = {},
  options: Partial<UpstreamCallOptions> = {},
): Promise<UpstreamCallResult> {
  return callHttpTool(t, args, headers, { guard: allowTestServer, timeoutMs: 5_000, maxResponseBytes: 100_000, ...options });
}

function text(result: UpstreamCallResult): string {
  expect(result.result.content).toHaveLength(1);
  return result.result.content[0]?.text ?? "";
}

/** A lookup that answers from a table and counts its calls. */
function fakeLookup(table: Record<string, string[]>): { lookup: (host: string) => Promise<ResolvedAddress[]>; calls: string[] } {
  const calls: string[] = [];
  const lookup = async (host: string): Promise<ResolvedAddress[]> => {
    calls.push(host);
    const addresses = table[host.toLowerCase().replace(/\.$/, "")];
    if (addresses === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
    return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return { lookup, calls };
}

describe("argument mapping", () => {
  it("fills path parameters and sends the rest as query parameters for GET", async () => {
    const result = await call(tool({ path: "/echo/{id}/items", serverUrl: `${base}?v=1` }), {
      id: "a/b",
      tags: ["x", "y z", null],
      limit: 10,
      flag: true,
      filter: { k: "v" },
      skipped: null,
      alsoSkipped: undefined,
    });
    expect(result.outcome).toBe("ok");
    expect(result.status).toBe(200);
    expect(result.result.isError).toBeUndefined();
    expect(recorded).toHaveLength(1);
    expect(recorded[0]?.method).toBe("GET");
    expect(recorded[0]?.url).toBe(`/api/echo/a%2Fb/items?v=1&tags=x&tags=y+z&limit=10&flag=true&filter=%7B%22k%22%3A%22v%22%7D`);
    expect(recorded[0]?.body).toBe("");
    // JSON answers come back pretty-printed with two spaces.
    const body = text(result);
    expect(body).toBe(JSON.stringify(JSON.parse(body), null, 2));
    expect(body).toContain('\n  "method": "GET"');
  });

  it("sends the remaining arguments as a JSON body for POST", async () => {
    const result = await call(tool({ httpMethod: "post", path: "/echo/{id}" }), { id: 7, name: "n", nested: { a: [1, 2] } });
    expect(result.outcome).toBe("ok");
    expect(recorded[0]?.method).toBe("POST");
    expect(recorded[0]?.url).toBe("/api/echo/7");
    expect(recorded[0]?.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(recorded[0]?.body ?? "")).toEqual({ name: "n", nested: { a: [1, 2] } });
  });

  it("sends {} when every argument went into the path", async () => {
    await call(tool({ httpMethod: "PUT", path: "/echo/{id}" }), { id: "x" });
    expect(recorded[0]?.method).toBe("PUT");
    expect(recorded[0]?.body).toBe("{}");
  });

  it("keeps a dot-segment value as data instead of letting it climb the path", async () => {
    await call(tool({ path: "/echo/{id}" }), { id: ".." });
    expect(recorded[0]?.url).toBe("/api/echo/%2E%2E");
  });

  it("refuses a missing or null path argument without calling the upstream", async () => {
    for (const args of [{}, { id: null }]) {
      const result = await call(tool({ path: "/echo/{id}" }), args);
      expect(result.outcome).toBe("bad_arguments");
      expect(result.result.isError).toBe(true);
      expect(text(result)).toBe('missing argument "id"');
    }
    expect(recorded).toHaveLength(0);
  });

  it("refuses a body over maxRequestBytes without calling the upstream", async () => {
    const result = await call(tool({ httpMethod: "POST" }), { blob: "z".repeat(500) }, {}, { maxRequestBytes: 100 });
    expect(result.outcome).toBe("bad_arguments");
    expect(text(result)).toMatch(/over the limit of 100/);
    expect(recorded).toHaveLength(0);
  });
});

describe("upstream answers", () => {
  it("returns text as is, decoded as UTF-8", async () => {
    const result = await call(tool({ path: "/text" }));
    expect(result.outcome).toBe("ok");
    expect(text(result)).toBe("héllo ✓\nplain");
  });

  it("returns a JSON content-type body that does not parse as it is", async () => {
    expect(text(await call(tool({ path: "/bad-json" })))).toBe("not json {");
  });

  it("says what happened when a 2xx has no body", async () => {
    const result = await call(tool({ path: "/empty" }));
    expect(result).toMatchObject({ outcome: "ok", status: 204 });
    expect(text(result)).toBe("HTTP 204 No Content");
  });

  it("turns a 404 into an error result with the status line and the body", async () => {
    const result = await call(tool({ path: "/missing" }));
    expect(result).toMatchObject({ outcome: "http_error", status: 404, result: { isError: true } });
    expect(text(result)).toBe('HTTP 404 Not Found\n{\n  "error": "no such thing"\n}');
  });

  it("turns a 500 into an error result", async () => {
    const result = await call(tool({ path: "/fail" }));
    expect(result).toMatchObject({ outcome: "http_error", status: 500, result: { isError: true } });
    expect(text(result)).toBe("HTTP 500 Internal Server Error\nboom");
  });

  it("does not follow redirects", async () => {
    const result = await call(tool({ path: "/redirect" }));
    expect(result).toMatchObject({ outcome: "http_error", status: 302, result: { isError: true } });
    expect(text(result)).toBe("HTTP 302 Found\n(redirect not followed: location /api/echo/redirected)");
    expect(recorded.map((r) => r.url)).toEqual(["/api/redirect"]);
  });

  it("gives up after timeoutMs and closes the connection", async () => {
    const started = Date.now();
    const result = await call(tool({ path: "/slow" }), {}, {}, { timeoutMs: 300 });
    expect(result).toMatchObject({ outcome: "timeout", result: { isError: true } });
    expect(text(result)).toBe("upstream did not answer within 300 ms");
    expect(Date.now() - started).toBeLessThan(3_000);
    await vi.waitFor(() => expect(events).toContain("slow closed"));
  });

  it("stops reading a streamed body over maxResponseBytes and destroys the connection", async () => {
    const result = await call(tool({ path: "/huge" }), {}, {}, { maxResponseBytes: 50_000 });
    expect(result).toMatchObject({ outcome: "too_large", status: 200, result: { isError: true } });
    expect(text(result)).toBe("upstream response is larger than the limit of 50000 bytes");
    await vi.waitFor(() => expect(events).toEqual(["huge aborted"]));
  });

  it("refuses a declared content-length over maxResponseBytes", async () => {
    const result = await call(tool({ path: "/huge-declared" }), {}, {}, { maxResponseBytes: 50_000 });
    expect(result).toMatchObject({ outcome: "too_large", status: 200 });
  });

  it("aborts the request when the MCP request is cancelled", async () => {
    const controller = new AbortController();
    const pending = call(tool({ path: "/slow" }), {}, {}, { signal: controller.signal });
    await vi.waitFor(() => expect(recorded.map((r) => r.url)).toEqual(["/api/slow"]));
    controller.abort();
    const result = await pending;
    expect(result).toMatchObject({ outcome: "cancelled", result: { isError: true } });
    await vi.waitFor(() => expect(events).toContain("slow closed"));
  });

  it("makes no request when the signal is already aborted", async () => {
    const result = await call(tool(), {}, {}, { signal: AbortSignal.abort() });
    expect(result.outcome).toBe("cancelled");
    expect(recorded).toHaveLength(0);
  });

  it("reports a network error briefly, without a stack", async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const result = await call(tool({ serverUrl: `http://127.0.0.1:${closedPort}` }));
    expect(result).toMatchObject({ outcome: "network_error", result: { isError: true } });
    expect(text(result)).toMatch(/^upstream request failed: .*ECONNREFUSED/);
    expect(text(result)).not.toMatch(/\n\s+at /);
  });
});

describe("headers", () => {
  it("forwards mcp-upstream-* headers without the prefix and drops hop-by-hop ones", async () => {
    await call(
      tool({ httpMethod: "POST" }),
      { a: 1 },
      {
        authorization: "Bearer client-key",
        "mcp-upstream-x-api-key": "k1",
        "MCP-Upstream-Authorization": "Bearer upstream-token",
        "mcp-upstream-host": "evil.example",
        "mcp-upstream-connection": "keep-alive, x-smuggled",
        "mcp-upstream-content-length": "9999",
        "mcp-upstream-transfer-encoding": "chunked",
        "mcp-upstream-keep-alive": "timeout=99",
        "mcp-upstream-upgrade": "websocket",
        "mcp-upstream-te": "trailers",
        "mcp-upstream-trailer": "x-late",
        "mcp-upstream-proxy-authorization": "Basic cHJveHk=",
        "x-other": "not prefixed",
      },
    );
    const headers = recorded[0]?.headers ?? {};
    expect(headers["x-api-key"]).toBe("k1");
    expect(headers.authorization).toBe("Bearer upstream-token");
    expect(headers.host).toBe(`127.0.0.1:${port}`);
    expect(headers.connection).not.toMatch(/x-smuggled/);
    expect(headers["content-length"]).toBe(String(Buffer.byteLength('{"a":1}')));
    for (const dropped of ["transfer-encoding", "keep-alive", "upgrade", "te", "trailer", "proxy-authorization", "x-other"]) {
      expect(headers[dropped], dropped).toBeUndefined();
    }
    expect(headers.accept).toBe("application/json, text/*;q=0.9, */*;q=0.8");
    expect(headers["user-agent"]).toBe("toolset-release-gateway");
    expect(JSON.parse(recorded[0]?.body ?? "")).toEqual({ a: 1 });
  });

  it("never forwards the client's own Authorization", async () => {
    await call(tool(), {}, { authorization: "Bearer client-key", Authorization: "Bearer client-key" });
    expect(recorded).toHaveLength(1);
    expect(recorded[0]?.headers.authorization).toBeUndefined();
  });
});

describe("upstream guard", () => {
  const refusedAddresses: [string, string][] = [
    ["127.0.0.1", "a loopback address"],
    ["10.1.2.3", "a private address"],
    ["172.31.255.255", "a private address"],
    ["192.168.1.1", "a private address"],
    ["169.254.169.254", "a cloud metadata address"],
    ["169.254.1.1", "a link-local address"],
    ["100.100.100.200", "a cloud metadata address"],
    ["100.64.0.1", "a carrier-grade NAT address"],
    ["0.0.0.0", "an unspecified address"],
    ["224.0.0.1", "a multicast address"],
    ["255.255.255.255", "a reserved address"],
    ["::1", "a loopback address"],
    ["::", "an unspecified address"],
    ["fe80::1", "a link-local address"],
    ["fc00::1", "a private address"],
    ["fd00:ec2::254", "a cloud metadata address"],
    ["ff02::1", "a multicast address"],
    ["::ffff:127.0.0.1", "a loopback address"],
    ["::ffff:7f00:1", "a loopback address"],
    ["::ffff:169.254.169.254", "a cloud metadata address"],
    ["64:ff9b::10.0.0.1", "a private address"],
    ["64:ff9b::a9fe:a9fe", "a cloud metadata address"],
  ];

  it.each(refusedAddresses)("by default refuses a host name resolving to %s", async (address, kind) => {
    const guard = new UpstreamGuard(parseUpstreamAllowList(""), fakeLookup({ "upstream.test": [address] }).lookup);
    const check = guard.check(new URL("http://upstream.test/"));
    await expect(check).rejects.toBeInstanceOf(UpstreamRefusedError);
    await expect(check).rejects.toThrow(`resolves to ${kind}, which`);
    // The resolved address is not told to the client (no internal-DNS oracle).
    await expect(check).rejects.not.toThrow(address);
  });

  it("words a refusal as documented", async () => {
    const guard = new UpstreamGuard(parseUpstreamAllowList(""), fakeLookup({ x: ["127.0.0.1"] }).lookup);
    await expect(guard.check(new URL("https://x/"))).rejects.toThrow(
      'upstream host "x" resolves to a loopback address, which GATEWAY_UPSTREAM_ALLOW does not allow',
    );
  });

  it.each(["93.184.215.14", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"])(
    "by default allows a host name resolving to the public address %s",
    async (address) => {
      const guard = new UpstreamGuard(parseUpstreamAllowList(""), fakeLookup({ "upstream.test": [address] }).lookup);
      expect(await guard.check(new URL("http://upstream.test/"))).toEqual([{ address, family: address.includes(":") ? 6 : 4 }]);
    },
  );

  it("refuses a host name when any one of its addresses is refused", async () => {
    const guard = new UpstreamGuard(parseUpstreamAllowList(""), fakeLookup({ "upstream.test": ["8.8.8.8", "10.0.0.1"] }).lookup);
    await expect(guard.check(new URL("http://upstream.test/"))).rejects.toThrow(/private address, which/);
  });

  it.each([
    "http://127.0.0.1/",
    "http://[::1]/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://[::ffff:127.0.0.1]/",
    "http://169.254.169.254/latest",
  ])("by default refuses the literal address in %s without DNS", async (url) => {
    const { lookup, calls } = fakeLookup({});
    await expect(new UpstreamGuard(parseUpstreamAllowList(""), lookup).check(new URL(url))).rejects.toBeInstanceOf(UpstreamRefusedError);
    expect(calls).toEqual([]);
  });

  it.each(["ftp://example.com/", "file:///etc/passwd", "ws://example.com/"])("refuses the scheme of %s", async (url) => {
    await expect(new UpstreamGuard(parseUpstreamAllowList("")).check(new URL(url))).rejects.toThrow(/scheme .* is not allowed/);
  });

  it("by default refuses the test server, and no request reaches it", async () => {
    const defaults = new UpstreamGuard(parseUpstreamAllowList(""));
    const literal = await call(tool(), {}, {}, { guard: defaults });
    expect(literal).toMatchObject({ outcome: "refused", result: { isError: true } });
    expect(text(literal)).toBe("upstream address 127.0.0.1 is a loopback address, which GATEWAY_UPSTREAM_ALLOW does not allow");
    for (const address of ["127.0.0.1", "10.1.2.3", "169.254.169.254", "::1", "::ffff:127.0.0.1"]) {
      const guard = new UpstreamGuard(parseUpstreamAllowList(""), fakeLookup({ "internal.test": [address] }).lookup);
      const result = await call(tool({ serverUrl: `http://internal.test:${port}/api` }), {}, {}, { guard });
      expect(result.outcome, address).toBe("refused");
      expect(text(result)).toContain(`resolves to`);
    }
    expect(recorded).toHaveLength(0);
  });

  it("connects to exactly the address the guard checked, resolving only once", async () => {
    const { lookup, calls } = fakeLookup({ "internal.test": ["127.0.0.1"] });
    const guard = new UpstreamGuard(parseUpstreamAllowList("127.0.0.1"), lookup);
    // internal.test has no DNS record: the request can only reach the server through the guard's answer.
    const result = await call(tool({ serverUrl: `http://internal.test:${port}/api` }), {}, {}, { guard });
    expect(result.outcome).toBe("ok");
    expect(calls).toEqual(["internal.test"]);
    expect(recorded[0]?.headers.host).toBe(`internal.test:${port}`);
  });

  it("reports a DNS failure as a network error", async () => {
    const guard = new UpstreamGuard(parseUpstreamAllowList(""), fakeLookup({}).lookup);
    const result = await call(tool({ serverUrl: "http://nowhere.test/" }), {}, {}, { guard });
    expect(result.outcome).toBe("network_error");
    expect(text(result)).toBe('could not resolve upstream host "nowhere.test": getaddrinfo ENOTFOUND nowhere.test');
  });

  it("with host-name entries allows only those hosts, and only at public addresses", async () => {
    const allow = parseUpstreamAllowList("api.example.com,*.example.org");
    const { lookup, calls } = fakeLookup({
      "api.example.com": ["93.184.215.14"],
      "deep.sub.example.org": ["2606:4700:4700::1111"],
      "example.org": ["93.184.215.14"],
      "other.example.net": ["93.184.215.14"],
    });
    const guard = new UpstreamGuard(allow, lookup);
    expect(await guard.check(new URL("https://api.example.com/v1"))).toEqual([{ address: "93.184.215.14", family: 4 }]);
    expect(await guard.check(new URL("https://API.Example.COM./v1"))).toEqual([{ address: "93.184.215.14", family: 4 }]);
    expect(await guard.check(new URL("https://deep.sub.example.org/"))).toHaveLength(1);
    calls.length = 0;
    // `*.example.org` is for subdomains only; hosts not listed are refused before any DNS query.
    await expect(guard.check(new URL("https://example.org/"))).rejects.toThrow('upstream host "example.org" is not in GATEWAY_UPSTREAM_ALLOW');
    await expect(guard.check(new URL("https://other.example.net/"))).rejects.toThrow(/is not in GATEWAY_UPSTREAM_ALLOW/);
    await expect(guard.check(new URL("https://93.184.215.14/"))).rejects.toThrow("upstream address 93.184.215.14 is not in GATEWAY_UPSTREAM_ALLOW");
    expect(calls).toEqual([]);

    const rebound = new UpstreamGuard(allow, fakeLookup({ "api.example.com": ["10.0.0.5"] }).lookup);
    await expect(rebound.check(new URL("https://api.example.com/"))).rejects.toThrow(
      'upstream host "api.example.com" resolves to a private address, which GATEWAY_UPSTREAM_ALLOW does not allow',
    );
  });

  it("with CIDR entries allows addresses inside them, also private ones", async () => {
    const allow = parseUpstreamAllowList("api.example.com,10.0.0.0/8,fd00::/8");
    const { lookup } = fakeLookup({
      "api.example.com": ["10.0.0.5"],
      "svc.internal": ["fd00::1:2"],
      "svc.public": ["8.8.8.8"],
      mixed: ["10.1.1.1", "192.168.0.1"],
    });
    const guard = new UpstreamGuard(allow, lookup);
    expect(await guard.check(new URL("http://api.example.com/"))).toEqual([{ address: "10.0.0.5", family: 4 }]);
    expect(await guard.check(new URL("http://svc.internal/"))).toEqual([{ address: "fd00::1:2", family: 6 }]);
    expect(await guard.check(new URL("http://10.200.0.1:8080/"))).toEqual([{ address: "10.200.0.1", family: 4 }]);
    await expect(guard.check(new URL("http://svc.public/"))).rejects.toThrow(/not in GATEWAY_UPSTREAM_ALLOW/);
    await expect(guard.check(new URL("http://mixed/"))).rejects.toThrow(/private address, which/);
    await expect(guard.check(new URL("http://127.0.0.1/"))).rejects.toThrow(/loopback/);
  });

  it("with `public` keeps the default's rule and adds what else is listed", async () => {
    const { lookup } = fakeLookup({ "svc.public": ["8.8.8.8"], "svc.internal": ["10.0.0.5"], local: ["127.0.0.1"] });
    const guard = new UpstreamGuard(parseUpstreamAllowList("public,127.0.0.1"), lookup);
    expect(await guard.check(new URL("http://svc.public/"))).toEqual([{ address: "8.8.8.8", family: 4 }]);
    expect(await guard.check(new URL("http://93.184.215.14/"))).toHaveLength(1);
    expect(await guard.check(new URL("http://local/"))).toEqual([{ address: "127.0.0.1", family: 4 }]);
    await expect(guard.check(new URL("http://svc.internal/"))).rejects.toThrow(/private address, which/);
    expect(parseUpstreamAllowList("PUBLIC").anyPublic).toBe(true);
    expect(parseUpstreamAllowList("api.example.com").anyPublic).toBe(false);
  });

  it("judges an IPv4-mapped address by its IPv4 address against the allow-list too", async () => {
    const guard = new UpstreamGuard(
      parseUpstreamAllowList("127.0.0.1"),
      fakeLookup({ local: ["::ffff:127.0.0.1"], other: ["::ffff:127.0.0.2"] }).lookup,
    );
    expect(await guard.check(new URL("http://local/"))).toHaveLength(1);
    await expect(guard.check(new URL("http://other/"))).rejects.toThrow(/resolves to a loopback address, which/);
  });
});

describe("parseUpstreamAllowList", () => {
  it("accepts host names, IP addresses and CIDR blocks of both families", () => {
    const list = parseUpstreamAllowList("127.0.0.1,10.0.0.0/8,api.example.com,::1,fd00::/8,*.example.org");
    expect(list.entries).toEqual(["127.0.0.1", "10.0.0.0/8", "api.example.com", "::1", "fd00::/8", "*.example.org"]);
    expect(list.hosts).toEqual([
      { name: "api.example.com", subdomains: false },
      { name: "example.org", subdomains: true },
    ]);
    expect(list.networks).toHaveLength(4);
  });

  it("reads an empty string as the empty list and ignores blanks", () => {
    expect(parseUpstreamAllowList("").entries).toEqual([]);
    expect(parseUpstreamAllowList(" a.example , ,b.example ").entries).toEqual(["a.example", "b.example"]);
  });

  it.each([
    "10.0.0.0/33",
    "not a host!",
    "::1/129",
    "1.2.3.4/",
    "10.0.0.0/x",
    "api.example.com:443",
    "1.2.3.4.5",
    "-bad.example",
    "http://x.example",
  ])("rejects %s, naming it", (entry) => {
    expect(() => parseUpstreamAllowList(`api.example.com,${entry}`)).toThrow(`GATEWAY_UPSTREAM_ALLOW entry "${entry}"`);
  });
});
