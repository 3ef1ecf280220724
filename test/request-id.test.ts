import { Code, ConnectError, type CallOptions } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ReleaseService } from "../gen/releases/v1/releases_pb.js";
import { ToolsetService } from "../gen/toolsets/v1/toolsets_pb.js";
import { createLogger } from "../server/platform/logging.js";
import { currentRequest } from "../server/platform/request-context.js";
import { uniqueSlug } from "../server/testing/fixtures.js";
import { bearer, PROTOCOLS, startTestServer } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";

// Issue 11, item 2: every request has an id, taken from a valid x-request-id or
// traceparent, else new; it is echoed as x-request-id on every protocol, for
// successes and errors alike, carried by every log line written while serving
// the request, and quoted in internal error messages.

const lines: string[] = [];
const logger = createLogger("debug", { write: (s: string) => lines.push(s) });
/** Set by a test: the next served-state fill fails (an unexpected error deep in a handler). */
let failFill = false;
const { database, server, tenant, api } = useTestServer({
  tenants: 1,
  server: {
    logger,
    async beforeStore() {
      if (!failFill) return;
      failFill = false;
      throw new Error("a bug in a fill");
    },
  },
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Line = Record<string, unknown>;
const parsed = (): Line[] => lines.map((l) => JSON.parse(l) as Line);

/** The x-request-id answered to a GetToolset of `slug` (found or not), over `protocol`, sending `headers`. */
async function answeredId(protocol: (typeof PROTOCOLS)[number], slug: string, headers: Record<string, string> = {}): Promise<string | null> {
  let id: string | null = null;
  const options: CallOptions = {
    headers: { ...bearer(tenant.producerKey).headers, ...headers },
    onHeader: (h) => (id = h.get("x-request-id")),
  };
  try {
    await server.client(ToolsetService, protocol).getToolset({ project: tenant.project, slug }, options);
  } catch (e) {
    return ConnectError.from(e).metadata.get("x-request-id");
  }
  return id;
}

describe("x-request-id", () => {
  it("is answered on every protocol, for a success and for an error, and differs per request", async () => {
    const slug = uniqueSlug("rid");
    await api.createToolset(slug);
    const seen = new Set<string>();
    for (const protocol of PROTOCOLS) {
      for (const target of [slug, "no-such-toolset"]) {
        const id = await answeredId(protocol, target);
        expect(id, `${protocol} ${target}`).toMatch(UUID);
        seen.add(id!);
      }
    }
    expect(seen.size).toBe(PROTOCOLS.length * 2);
  });

  it("is the client's own when valid, on every protocol", async () => {
    for (const protocol of PROTOCOLS) {
      const given = `client-${protocol}.1:2/3+4=`;
      expect(await answeredId(protocol, "no-such-toolset", { "x-request-id": given })).toBe(given);
    }
  });

  it.each([
    ["with a space", "two words"],
    ["with a quote", 'say"hi'],
    ["too long", "a".repeat(129)],
    ["with a newline escape", "a\\nb"],
  ])("is replaced when the client's is invalid (%s)", async (_what, given) => {
    const id = await answeredId("connect-json", "no-such-toolset", { "x-request-id": given });
    expect(id).toMatch(UUID);
    expect(id).not.toBe(given);
  });

  it("is the trace id of a valid traceparent, unless a valid x-request-id is sent too", async () => {
    const trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    const traceparent = `00-${trace}-00f067aa0ba902b7-01`;
    for (const protocol of PROTOCOLS) expect(await answeredId(protocol, "no-such-toolset", { traceparent })).toBe(trace);
    expect(await answeredId("grpc", "no-such-toolset", { traceparent, "x-request-id": "mine" })).toBe("mine");
    // An invalid x-request-id falls back to the traceparent.
    expect(await answeredId("grpc", "no-such-toolset", { traceparent, "x-request-id": "not mine" })).toBe(trace);
  });

  it.each([
    ["an all-zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"],
    ["upper-case hex", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"],
    ["a short trace id", "00-4bf92f3577b34da6-00f067aa0ba902b7-01"],
    ["not a traceparent", "hello"],
  ])("is new when the traceparent is invalid (%s)", async (_what, traceparent) => {
    expect(await answeredId("connect-binary", "no-such-toolset", { traceparent })).toMatch(UUID);
  });

  it("is readable by a browser: CORS exposes it and allows sending it", async () => {
    const own = await startTestServer(database.url, { corsAllowedOrigins: ["https://app.example.com"] });
    try {
      const origin = { origin: "https://app.example.com" };
      const preflight = await fetch(`${own.baseUrl}/toolsets.v1.ToolsetService/GetToolset`, {
        method: "OPTIONS",
        headers: { ...origin, "access-control-request-method": "POST", "access-control-request-headers": "x-request-id, traceparent" },
      });
      expect(preflight.headers.get("access-control-allow-headers")).toMatch(/X-Request-Id/i);
      expect(preflight.headers.get("access-control-allow-headers")).toMatch(/Traceparent/i);
      const res = await fetch(`${own.baseUrl}/toolsets.v1.ToolsetService/GetToolset`, {
        method: "POST",
        headers: { ...origin, "content-type": "application/json" },
        body: "{}",
      });
      expect(res.headers.get("access-control-expose-headers")).toMatch(/X-Request-Id/i);
      expect(res.headers.get("x-request-id")).toMatch(UUID);
    } finally {
      await own.close();
    }
  });
});

describe("log lines", () => {
  it("carry the request id: the RPC's line, and every line written while serving it", async () => {
    // With the served state off, a fill is the request's own work (a shared fill works for no one request).
    const own: string[] = [];
    const ownLogger = createLogger("debug", { write: (s: string) => own.push(s) });
    let fail = false;
    const unshared = await startTestServer(database.url, {
      servedStateMaxBytes: 0,
      logger: ownLogger,
      async beforeStore() {
        if (!fail) return;
        fail = false;
        ownLogger.warn("fill probe");
        throw new Error("a bug in a fill");
      },
    });
    try {
      const slug = uniqueSlug("logged");
      await api.createToolset(slug);
      own.length = 0;
      fail = true;
      const err = await unshared
        .client(ReleaseService, "grpc")
        .resolveToolset({ project: tenant.project, slug }, { headers: { ...bearer(tenant.producerKey).headers, "x-request-id": "quote-me-1" } })
        .then(
          () => undefined,
          (e: unknown) => ConnectError.from(e),
        );
      expect(err?.code).toBe(Code.Internal);
      const logged = () => own.map((l) => JSON.parse(l) as Line);
      await expect.poll(() => logged().filter((l) => l["msg"] === "rpc").length).toBe(1);
      expect(logged().map((l) => l["msg"])).toEqual(["fill probe", "rpc"]);
      for (const line of logged()) expect(line["request_id"], String(line["msg"])).toBe("quote-me-1");
      expect(logged()[1]?.["code"]).toBe("Internal");
    } finally {
      await unshared.close();
    }
  });

  it("of a watch carry its id, written when the stream ends", async () => {
    const slug = uniqueSlug("watched");
    await api.createToolset(slug);
    lines.length = 0;
    const abort = new AbortController();
    const stream = server
      .client(ReleaseService)
      .watchToolset(
        { project: tenant.project, slug },
        { headers: { ...bearer(tenant.producerKey).headers, "x-request-id": "watch-1" }, signal: abort.signal },
      );
    const iterator = stream[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.resolved?.slug).toBe(slug);
    abort.abort();
    await iterator.next().catch(() => undefined);
    const watchLine = () => parsed().find((l) => l["msg"] === "rpc" && l["procedure"] === "/releases.v1.ReleaseService/WatchToolset");
    await expect.poll(watchLine).toBeDefined();
    expect(watchLine()?.["request_id"]).toBe("watch-1");
  });

  it("written outside any request carry no request id", () => {
    const out: string[] = [];
    const own = createLogger("info", { write: (s: string) => out.push(s) });
    expect(currentRequest()).toBeUndefined();
    own.info("start-up");
    expect(JSON.parse(out[0]!) as Line).not.toHaveProperty("request_id");
  });
});

describe("an internal error", () => {
  it("names the request id in its message, on every protocol, and the id is the one answered in the header", async () => {
    const slug = uniqueSlug("internal");
    await api.createToolset(slug);
    for (const protocol of PROTOCOLS) {
      // Each protocol's resolve misses (a change evicts), so the fill runs and fails.
      await api.editLive(slug, { description: protocol });
      failFill = true;
      const err = await server
        .client(ReleaseService, protocol)
        .resolveToolset({ project: tenant.project, slug }, bearer(tenant.producerKey))
        .then(
          () => undefined,
          (e: unknown) => ConnectError.from(e),
        );
      expect(err?.code, protocol).toBe(Code.Internal);
      const id = err!.metadata.get("x-request-id");
      expect(id, protocol).toMatch(UUID);
      expect(err!.rawMessage, protocol).toBe(`internal error (request id ${id})`);
      expect(err!.rawMessage).not.toContain("a bug in a fill");
    }
  });
});
