import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../server/config.js";
import { acceptedEncoding, CONSOLE_SECURITY_HEADERS, relativePath } from "../server/platform/console-static.js";
import { startTestServer, type TestServer } from "../server/testing/server.js";
import { useTestDatabase } from "../server/testing/use-test-server.js";

const root = mkdtempSync(join(tmpdir(), "console-static-"));
const dist = join(root, "dist");
const INDEX = '<!doctype html><html><head><script type="module" src="/console/assets/app-abc123.js"></script></head><body></body></html>';
// Large enough to be worth compressing.
const SCRIPT = `console.log(${JSON.stringify("the console ".repeat(400))});\n`;
mkdirSync(join(dist, "assets"), { recursive: true });
writeFileSync(join(dist, "index.html"), INDEX);
writeFileSync(join(dist, "assets", "app-abc123.js"), SCRIPT);
writeFileSync(join(dist, "assets", "app-abc123.css"), "body{margin:0}");
writeFileSync(join(dist, "assets", "app-abc123.js.map"), '{"version":3}');
writeFileSync(join(dist, "assets", "logo-abc123.svg"), "<svg xmlns='http://www.w3.org/2000/svg'/>");
writeFileSync(join(dist, "assets", "logo-abc123.png"), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
writeFileSync(join(dist, "assets", "font-abc123.woff2"), Buffer.from("wOF2"));
writeFileSync(join(dist, "favicon.ico"), Buffer.from([0, 0, 1, 0]));
writeFileSync(join(dist, "manifest.json"), "{}");
// Outside the build: what a traversal would be after.
writeFileSync(join(root, "secret.txt"), "secret");
symlinkSync(join(root, "secret.txt"), join(dist, "assets", "linked-abc123.js"));

const database = useTestDatabase();
let server: TestServer;
let unbuilt: TestServer;
let disabled: TestServer;

beforeAll(async () => {
  server = await startTestServer(database.url, { consoleDir: dist, gatewayPublicUrl: "http://127.0.0.1:8081" });
  unbuilt = await startTestServer(database.url, { consoleDir: join(root, "missing") });
  disabled = await startTestServer(database.url, { consoleDir: dist, consoleEnabled: false });
});
afterAll(async () => {
  await Promise.all([server.close(), unbuilt.close(), disabled.close()]);
  rmSync(root, { recursive: true, force: true });
});

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** One HTTP/1.1 request with the path sent exactly as written (fetch would normalize `..`). */
function h1(port: number, path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method: options.method ?? "GET", headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, String(v)])),
          body: Buffer.concat(chunks),
        }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

/** One HTTP/2 (h2c, prior knowledge) request on a connection of its own. */
function h2(baseUrl: string, path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  const session = http2.connect(baseUrl);
  return new Promise<Reply>((resolve, reject) => {
    session.on("error", reject);
    const req = session.request({ ":method": options.method ?? "GET", ":path": path, ...options.headers });
    let head: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on("response", (h) => (head = h));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () =>
      resolve({
        status: Number(head[":status"]),
        headers: Object.fromEntries(Object.entries(head).map(([k, v]) => [k, String(v)])),
        body: Buffer.concat(chunks),
      }),
    );
    req.on("error", reject);
    req.end();
  }).finally(() => session.close());
}

const transports = [
  ["HTTP/1.1", (s: TestServer, path: string, o?: Parameters<typeof h1>[2]) => h1(s.port, path, o)],
  ["HTTP/2", (s: TestServer, path: string, o?: Parameters<typeof h2>[2]) => h2(s.baseUrl, path, o)],
] as const;

function expectSecurityHeaders(reply: Reply): void {
  for (const [name, value] of Object.entries(CONSOLE_SECURITY_HEADERS)) expect(reply.headers[name], name).toBe(value);
}

describe.each(transports)("the console over %s", (_, get) => {
  it("/console redirects to /console/ (308, query kept)", async () => {
    for (const method of ["GET", "HEAD"]) {
      const reply = await get(server, "/console?x=1", { method });
      expect(reply.status).toBe(308);
      expect(reply.headers["location"]).toBe("/console/?x=1");
      expectSecurityHeaders(reply);
    }
  });

  it("/console/ is index.html, revalidated on every use", async () => {
    const reply = await get(server, "/console/");
    expect(reply.status).toBe(200);
    expect(reply.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(reply.headers["cache-control"]).toBe("no-cache");
    expect(reply.body.toString()).toBe(INDEX);
    expectSecurityHeaders(reply);
  });

  it.each(["/console/projects/demo/toolsets/x/releases/3", "/console/index.html", "/console/projects/a.b"])(
    "%s (no such file, or index.html itself) is index.html",
    async (path) => {
      const reply = await get(server, path);
      expect(reply.status).toBe(200);
      expect(reply.headers["cache-control"]).toBe("no-cache");
      expect(reply.body.toString()).toBe(INDEX);
      expectSecurityHeaders(reply);
    },
  );

  it("hashed assets are cached for a year, immutable", async () => {
    const reply = await get(server, "/console/assets/app-abc123.js");
    expect(reply.status).toBe(200);
    expect(reply.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(reply.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(reply.body.toString()).toBe(SCRIPT);
    expectSecurityHeaders(reply);
  });

  it.each([
    ["/console/assets/app-abc123.css", "text/css; charset=utf-8"],
    ["/console/assets/app-abc123.js.map", "application/json; charset=utf-8"],
    ["/console/assets/logo-abc123.svg", "image/svg+xml"],
    ["/console/assets/logo-abc123.png", "image/png"],
    ["/console/assets/font-abc123.woff2", "font/woff2"],
    ["/console/favicon.ico", "image/x-icon"],
    ["/console/manifest.json", "application/json; charset=utf-8"],
  ])("%s is %s", async (path, type) => {
    const reply = await get(server, path);
    expect(reply.status).toBe(200);
    expect(reply.headers["content-type"]).toBe(type);
    expect(reply.headers["x-content-type-options"]).toBe("nosniff");
  });

  it("files outside assets/ are revalidated", async () => {
    expect((await get(server, "/console/favicon.ico")).headers["cache-control"]).toBe("no-cache");
  });

  it.each(["/console/assets/app-000000.js", "/console/assets/", "/console/assets/linked-abc123.js"])(
    "%s (no such asset, or a link out of the build) is 404, not index.html",
    async (path) => {
      const reply = await get(server, path);
      expect(reply.status).toBe(404);
      expect(reply.body.toString()).not.toContain("<html");
      expectSecurityHeaders(reply);
    },
  );

  it.each([
    "/console/../secret.txt",
    "/console/assets/../../secret.txt",
    "/console/%2e%2e/secret.txt",
    "/console/%2E%2E%2Fsecret.txt",
    "/console/assets/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/console/..%5csecret.txt",
    "/console/assets\\..\\..\\secret.txt",
    "/console/index.html%00.js",
    "/console/%E0%A4%A",
  ])("%s is refused", async (path) => {
    const reply = await get(server, path);
    expect([400, 404]).toContain(reply.status);
    expect(reply.body.toString()).not.toContain("secret");
    expect(reply.body.toString()).not.toContain("<html");
  });

  it("HEAD answers the headers of GET without a body", async () => {
    const reply = await get(server, "/console/assets/app-abc123.js", { method: "HEAD" });
    expect(reply.status).toBe(200);
    expect(reply.headers["content-length"]).toBe(String(Buffer.byteLength(SCRIPT)));
    expect(reply.body.length).toBe(0);
  });

  it("other methods are 405", async () => {
    const reply = await get(server, "/console/", { method: "POST" });
    expect(reply.status).toBe(405);
    expect(reply.headers["allow"]).toBe("GET, HEAD");
  });

  it("compresses for a client that accepts it", async () => {
    const gz = await get(server, "/console/assets/app-abc123.js", { headers: { "accept-encoding": "gzip" } });
    expect(gz.headers["content-encoding"]).toBe("gzip");
    expect(gz.headers["vary"]).toBe("Accept-Encoding");
    expect(gunzipSync(gz.body).toString()).toBe(SCRIPT);
    const br = await get(server, "/console/assets/app-abc123.js", { headers: { "accept-encoding": "gzip, deflate, br" } });
    expect(br.headers["content-encoding"]).toBe("br");
    expect(brotliDecompressSync(br.body).toString()).toBe(SCRIPT);
    const none = await get(server, "/console/assets/app-abc123.js", { headers: { "accept-encoding": "identity" } });
    expect(none.headers["content-encoding"]).toBeUndefined();
    expect(none.body.toString()).toBe(SCRIPT);
  });

  it("index.html answers 304 to its ETag", async () => {
    const first = await get(server, "/console/");
    const etag = first.headers["etag"];
    expect(etag).toBeTruthy();
    const again = await get(server, "/console/toolsets", { headers: { "if-none-match": etag! } });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
  });

  it("config.json tells the app the gateway's URL", async () => {
    const reply = await get(server, "/console/config.json");
    expect(reply.status).toBe(200);
    expect(reply.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(reply.headers["cache-control"]).toBe("no-cache");
    expect(JSON.parse(reply.body.toString())).toEqual({ gatewayUrl: "http://127.0.0.1:8081" });
    expectSecurityHeaders(reply);
  });

  it("without a build: 503 saying how to build it, and the rest still works", async () => {
    const reply = await get(unbuilt, "/console/");
    expect(reply.status).toBe(503);
    expect(reply.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(reply.body.toString()).toContain("make console");
    expectSecurityHeaders(reply);
    expect(JSON.parse((await get(unbuilt, "/console/config.json")).body.toString())).toEqual({ gatewayUrl: "" });
    expect((await get(unbuilt, "/healthz")).status).toBe(200);
  });

  it("CONSOLE_ENABLED=false: 404", async () => {
    expect((await get(disabled, "/console/")).status).toBe(404);
    expect((await get(disabled, "/console/assets/app-abc123.js")).status).toBe(404);
    expect((await get(disabled, "/healthz")).status).toBe(200);
  });

  it("a path that only starts with /console is not the console's", async () => {
    const reply = await get(server, "/consoles/");
    expect(reply.status).toBe(404);
    expect(reply.headers["content-security-policy"]).toBeUndefined();
  });
});

describe("a new build", () => {
  it("shows without a restart once index.html changes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "console-rebuild-"));
    const late = await startTestServer(database.url, { consoleDir: dir });
    try {
      expect((await h1(late.port, "/console/")).status).toBe(503);
      writeFileSync(join(dir, "index.html"), "<p>v1</p>");
      await expect.poll(async () => (await h1(late.port, "/console/")).body.toString(), { timeout: 5_000 }).toBe("<p>v1</p>");
      writeFileSync(join(dir, "index.html"), "<p>second</p>");
      await expect.poll(async () => (await h1(late.port, "/console/")).body.toString(), { timeout: 5_000 }).toBe("<p>second</p>");
    } finally {
      await late.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("console configuration", () => {
  it("defaults: on, web/dist of this checkout, no gateway URL", () => {
    const config = loadConfig({});
    expect(config.consoleEnabled).toBe(true);
    expect(config.consoleDir).toBe(join(import.meta.dirname, "..", "web", "dist"));
    expect(config.gatewayPublicUrl).toBe("");
  });

  it("GATEWAY_PUBLIC_URL loses its trailing slash; a relative or non-http URL is refused naming the variable", () => {
    expect(loadConfig({ GATEWAY_PUBLIC_URL: "http://127.0.0.1:8081/" }).gatewayPublicUrl).toBe("http://127.0.0.1:8081");
    expect(loadConfig({ GATEWAY_PUBLIC_URL: "https://mcp.example.com/gw/" }).gatewayPublicUrl).toBe("https://mcp.example.com/gw");
    for (const bad of ["127.0.0.1:8081", "/mcp", "ftp://x.example.com", "https://x.example.com/?a=1"]) {
      expect(() => loadConfig({ GATEWAY_PUBLIC_URL: bad }), bad).toThrow(ConfigError);
      expect(() => loadConfig({ GATEWAY_PUBLIC_URL: bad }), bad).toThrow(/GATEWAY_PUBLIC_URL/);
    }
    expect(() => loadConfig({ CONSOLE_ENABLED: "maybe" })).toThrow(/CONSOLE_ENABLED/);
  });

  it("a relative CONSOLE_DIR is taken from the working directory", () => {
    expect(loadConfig({ CONSOLE_DIR: "build/console" }).consoleDir).toBe(join(process.cwd(), "build", "console"));
  });
});

describe("path and encoding rules", () => {
  it.each([
    ["", ""],
    ["assets/a.js", "assets/a.js"],
    ["projects/x%20y", "projects/x y"],
    ["..", undefined],
    ["a/./b", undefined],
    ["%2e%2e/x", undefined],
    ["a%5cb", undefined],
    ["a%00b", undefined],
    ["%zz", undefined],
  ])("%j → %j", (raw, expected) => {
    expect(relativePath(raw)).toBe(expected);
  });

  it.each([
    [undefined, undefined],
    ["gzip", "gzip"],
    ["gzip, br", "br"],
    ["br;q=0, gzip", "gzip"],
    ["*", "br"],
    ["identity", undefined],
    ["gzip;q=0", undefined],
  ])("Accept-Encoding %j → %j", (header, expected) => {
    expect(acceptedEncoding(header)).toBe(expected);
  });
});
