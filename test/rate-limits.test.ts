import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { ServerReflection, ServerReflectionRequestSchema } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { ReleaseService } from "../gen/releases/v1/releases_pb.js";
import { ToolsetService } from "../gen/toolsets/v1/toolsets_pb.js";
import { createApiKey } from "../server/auth/keys.js";
import { ERROR_DOMAIN, ERROR_REASONS } from "../server/platform/errors.js";
import { addressKey, TokenBuckets } from "../server/platform/rate-limit.js";
import { driver } from "../server/testing/driver.js";
import { httpTool, uniqueSlug } from "../server/testing/fixtures.js";
import { bearer, PROTOCOLS, startTestServer, type TestServer } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";
import { closeWatchersAfterEach, Watcher } from "../server/testing/watcher.js";

// RATE_LIMIT_* (issue 11.3): token buckets per replica; reads and writes per
// API key, calls without a key per client address. The server trusts one proxy
// hop, so each test picks its client address with X-Forwarded-For.

const LIMITS = {
  read: { perSecond: 1, burst: 3 },
  write: { perSecond: 1, burst: 2 },
  anonymous: { perSecond: 1, burst: 2 },
};

const { server, database, tenant } = useTestServer({ tenants: 1, server: { rateLimits: LIMITS, trustedProxyHops: 1 } });

/** A public endpoint, set up through a second server without limits (the setup's writes would spend the tenant's). */
const endpoint = { mcpSlug: "" };
let setup: TestServer | undefined;
beforeAll(async () => {
  setup = await startTestServer(database.url);
  const api = driver(setup, tenant);
  await api.deploy([httpTool("a")]);
  const slug = uniqueSlug("ts");
  endpoint.mcpSlug = uniqueSlug("mcp");
  await api.createToolset(slug, ["a"]);
  await api.editLive(slug, { mcpSlug: endpoint.mcpSlug, mcpEnabled: true, mcpIsPublic: true });
});
afterAll(async () => {
  await setup?.close();
});
closeWatchersAfterEach();

/** A new key of the tenant's organization: a bucket no other test has touched. */
const newKey = async (scope: "producer" | "consumer") => (await createApiKey(server.db, { org: tenant.org, scope })).key;

/** Call options as the client at `address` (the trusted proxy's X-Forwarded-For entry). */
const from = (address: string, more: Record<string, string> = {}) => ({ headers: { "x-forwarded-for": address, ...more } });

/** How a call ended: "ok", or the ConnectError it failed with. */
async function settle(p: Promise<unknown>): Promise<"ok" | ConnectError> {
  try {
    await p;
    return "ok";
  } catch (e) {
    return ConnectError.from(e);
  }
}

/** What a rate-limit refusal says, for assertions. */
function refusal(err: "ok" | ConnectError) {
  if (err === "ok") throw new Error("expected a refusal, the call succeeded");
  const [info] = err.findDetails(ErrorInfoSchema);
  const [retry] = err.findDetails(RetryInfoSchema);
  const delay = retry?.retryDelay;
  return {
    code: err.code,
    reason: info?.reason,
    domain: info?.domain,
    limit: info?.metadata["limit"],
    retryMs: delay === undefined ? undefined : Number(delay.seconds) * 1000 + delay.nanos / 1e6,
    message: err.rawMessage,
  };
}

/**
 * Calls `call` until one is refused (at most `burst` + 3 times): the first
 * `burst` must pass (a bucket starts full), and a refusal must come soon after
 * (a token comes back only every second). Returns the refusal.
 */
async function exhaust(burst: number, call: () => Promise<unknown>): Promise<ReturnType<typeof refusal>> {
  for (let i = 0; i < burst + 3; i++) {
    const result = await settle(call());
    if (i < burst) {
      expect(result, `call ${i + 1} of a full bucket of ${burst}`).toBe("ok");
      continue;
    }
    if (result !== "ok") return refusal(result);
  }
  throw new Error(`no refusal after ${burst + 3} calls`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("token buckets", () => {
  const clock = () => {
    let t = 0;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  };

  it("grant a burst, then one token per 1/rate seconds, and say how long until the next", () => {
    const c = clock();
    const buckets = new TokenBuckets({ perSecond: 4, burst: 2 }, { now: c.now });
    expect([buckets.take("k"), buckets.take("k")]).toEqual([0, 0]);
    expect(buckets.take("k")).toBe(250);
    c.advance(100);
    expect(buckets.take("k")).toBeCloseTo(150);
    c.advance(150);
    expect(buckets.take("k")).toBe(0);
    expect(buckets.take("k")).toBe(250);
  });

  it("keep keys apart", () => {
    const buckets = new TokenBuckets({ perSecond: 1, burst: 1 }, { now: () => 0 });
    expect(buckets.take("a")).toBe(0);
    expect(buckets.take("a")).toBeGreaterThan(0);
    expect(buckets.take("b")).toBe(0);
  });

  it("drop a bucket once it has refilled, so idle keys cost nothing", () => {
    const c = clock();
    const buckets = new TokenBuckets({ perSecond: 10, burst: 5 }, { now: c.now });
    for (let i = 0; i < 100; i++) buckets.take(`key-${i}`);
    expect(buckets.size).toBe(100);
    c.advance(499); // 5 tokens at 10/s take 500 ms
    buckets.take("fresh");
    expect(buckets.size).toBe(101);
    c.advance(1);
    buckets.take("fresh");
    expect(buckets.size).toBe(1);
  });

  it("hold at most maxBuckets, dropping the least recently used", () => {
    const buckets = new TokenBuckets({ perSecond: 1, burst: 1 }, { now: () => 0, maxBuckets: 3 });
    for (const k of ["a", "b", "c"]) buckets.take(k);
    buckets.take("a"); // now b is the least recently used
    for (let i = 0; i < 1000; i++) buckets.take(`random-${i}`);
    expect(buckets.size).toBe(3);
    expect(buckets.take("random-999")).toBeGreaterThan(0); // still held: refused
    expect(buckets.take("b")).toBe(0); // dropped: starts full again
  });

  it("key an IPv6 client by its /64, an IPv4 client by its address", () => {
    expect(addressKey("2001:db8:1:2:aaaa::1")).toBe(addressKey("2001:db8:1:2:ffff:ffff:ffff:ffff"));
    expect(addressKey("2001:db8:1:2::1")).not.toBe(addressKey("2001:db8:1:3::1"));
    expect(addressKey("2001:0db8:0001:0002:0:0:0:1")).toBe("2001:db8:1:2::/64");
    expect(addressKey("1::2:3:4:5:1.2.3.4")).toBe("1:0:2:3::/64");
    expect(addressKey("10.0.0.1")).toBe("10.0.0.1");
    expect(addressKey("10.0.0.2")).not.toBe(addressKey("10.0.0.1"));
  });
});

describe("rate limits", () => {
  it("refuse a key's reads past its burst with RESOURCE_EXHAUSTED, RATE_LIMITED and a retry delay, on every protocol", async () => {
    for (const protocol of PROTOCOLS) {
      const key = await newKey("consumer");
      const toolsets = server.client(ToolsetService, protocol);
      const refused = await exhaust(LIMITS.read.burst, () => toolsets.listToolsets({ project: tenant.project }, bearer(key)));
      expect(refused, protocol).toMatchObject({
        code: Code.ResourceExhausted,
        reason: ERROR_REASONS.RATE_LIMITED,
        domain: ERROR_DOMAIN,
        limit: "read",
      });
      // One token a second: the next one is less than a second away, and more than nothing.
      expect(refused.retryMs, protocol).toBeGreaterThan(0);
      expect(refused.retryMs, protocol).toBeLessThanOrEqual(1000);
      expect(refused.message).toMatch(/rate limit exceeded \(read: 1\/s, burst 3\); retry in 0\.\d{3} s/);
    }
  });

  it("keep each key's bucket its own", async () => {
    const [a, b] = [await newKey("consumer"), await newKey("consumer")];
    const toolsets = server.client(ToolsetService);
    await exhaust(LIMITS.read.burst, () => toolsets.listToolsets({ project: tenant.project }, bearer(a)));
    expect(await settle(toolsets.listToolsets({ project: tenant.project }, bearer(b)))).toBe("ok");
  });

  it("limit a key's reads and writes separately", async () => {
    const key = await newKey("producer");
    const toolsets = server.client(ToolsetService);
    const read = () => toolsets.listToolsets({ project: tenant.project }, bearer(key));
    // A write that fails in its handler spends a token all the same: the limit is on calls.
    const write = () =>
      toolsets.createToolset({ project: tenant.project, name: "x", slug: uniqueSlug("ts"), toolUrns: ["tools:http:api:nope"] }, bearer(key));
    expect(await exhaust(LIMITS.write.burst, write)).toMatchObject({ code: Code.ResourceExhausted, limit: "write" });
    // Writes refused, reads untouched.
    expect(await exhaust(LIMITS.read.burst, read)).toMatchObject({ code: Code.ResourceExhausted, limit: "read" });
    expect(refusal(await settle(write()))).toMatchObject({ limit: "write" });
  });

  it("give a key its tokens back with time: the call after the retry delay passes", async () => {
    const key = await newKey("consumer");
    const toolsets = server.client(ToolsetService, "grpc");
    const read = () => toolsets.listToolsets({ project: tenant.project }, bearer(key));
    const refused = await exhaust(LIMITS.read.burst, read);
    await sleep(refused.retryMs! + 20);
    expect(await settle(read())).toBe("ok");
  });

  it("limit calls without a key per client address", async () => {
    const releases = server.client(ReleaseService);
    const resolve = (address: string) =>
      releases.resolveToolset({ organization: tenant.org, project: tenant.project, mcpSlug: endpoint.mcpSlug }, from(address));
    const refused = await exhaust(LIMITS.anonymous.burst, () => resolve("10.1.0.1"));
    expect(refused).toMatchObject({ code: Code.ResourceExhausted, reason: ERROR_REASONS.RATE_LIMITED, limit: "anonymous" });
    expect(refused.retryMs).toBeGreaterThan(0);
    expect(refused.retryMs).toBeLessThanOrEqual(1000);
    // Another address has its own bucket; a call with a key from the same address spends the key's.
    expect(await settle(resolve("10.1.0.2"))).toBe("ok");
    const withKey = { headers: { ...bearer(await newKey("consumer")).headers, "x-forwarded-for": "10.1.0.1" } };
    expect(await settle(server.client(ToolsetService).listToolsets({ project: tenant.project }, withKey))).toBe("ok");
  });

  it("bound the unknown keys an address may try: past the anonymous burst, refused before the key is looked up", async () => {
    const toolsets = server.client(ToolsetService);
    const madeUp = (n: number) => `tsr_${"x".repeat(31)}${String(n).padStart(12, "0")}`; // well-formed, unknown
    const call = (address: string, key: string) =>
      settle(toolsets.listToolsets({ project: tenant.project }, { headers: { ...bearer(key).headers, "x-forwarded-for": address } }));
    server.queries.length = 0;
    for (let i = 0; i < LIMITS.anonymous.burst; i++) {
      const answer = await call("10.3.0.1", madeUp(i));
      expect(answer === "ok" ? "ok" : answer.code, `made-up key ${i + 1}`).toBe(Code.Unauthenticated);
    }
    expect(server.queries.length, "the made-up keys were looked up").toBeGreaterThan(0);
    server.queries.length = 0;
    const refused = refusal(await call("10.3.0.1", madeUp(99)));
    expect(refused).toMatchObject({ code: Code.ResourceExhausted, reason: ERROR_REASONS.RATE_LIMITED, limit: "anonymous" });
    expect(refused.retryMs).toBeGreaterThan(0);
    expect(server.queries, "no look-up for the refused key").toEqual([]);
    // Another address is not affected.
    const other = await call("10.3.0.2", madeUp(100));
    expect(other === "ok" ? "ok" : other.code).toBe(Code.Unauthenticated);
  });

  it("count an anonymous WatchToolset once, when it opens", async () => {
    const address = "10.2.0.1";
    const releases = server.client(ReleaseService, "connect-binary");
    const request = { organization: tenant.org, project: tenant.project, mcpSlug: endpoint.mcpSlug };
    const watcher = new Watcher((signal) => releases.watchToolset(request, { signal, ...from(address) }));
    await watcher.next();
    // The open watch spent one token of two: one more call passes, the next is refused, watch included.
    expect(await settle(releases.resolveToolset(request, from(address)))).toBe("ok");
    expect(refusal(await settle(releases.resolveToolset(request, from(address))))).toMatchObject({ limit: "anonymous" });
    const refusedWatch = new Watcher((signal) => releases.watchToolset(request, { signal, ...from(address) }));
    expect(await refusedWatch.end()).toMatchObject({ code: Code.ResourceExhausted });
    expect(watcher.messages).toHaveLength(1);
  });

  it("never limit health checks or reflection, so load balancers and grpcurl always get through", async () => {
    const address = "10.3.0.1";
    const releases = server.client(ReleaseService);
    await exhaust(LIMITS.anonymous.burst, () =>
      releases.resolveToolset({ organization: tenant.org, project: tenant.project, mcpSlug: endpoint.mcpSlug }, from(address)),
    );
    const health = server.client(Health, "grpc");
    for (let i = 0; i < 10; i++) expect((await health.check({}, from(address))).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    const reflection = server.client(ServerReflection, "grpc");
    for (let i = 0; i < 5; i++) {
      async function* ask() {
        yield create(ServerReflectionRequestSchema, { messageRequest: { case: "listServices", value: "" } });
      }
      const answers = [];
      for await (const res of reflection.serverReflectionInfo(ask(), from(address))) answers.push(res.messageResponse.case);
      expect(answers).toEqual(["listServicesResponse"]);
    }
  });
});
