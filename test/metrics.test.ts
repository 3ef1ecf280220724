import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { AccountService } from "../gen/accounts/v1/accounts_pb.js";
import { ReleaseService } from "../gen/releases/v1/releases_pb.js";
import { SourceService } from "../gen/sources/v1/sources_pb.js";
import { ToolsetService } from "../gen/toolsets/v1/toolsets_pb.js";
import { retryLater } from "../server/platform/errors.js";
import { createMetrics, type MetricsSources } from "../server/platform/metrics.js";
import { httpTool, uniqueSlug } from "../server/testing/fixtures.js";
import { failure, PROTOCOLS, startTestServer } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";

// Issue 11, item 1: GET /metrics in Prometheus text format, one registry per
// app, labels of bounded cardinality only.

const { database, server, tenant, api } = useTestServer({ tenants: 1 });

/** One sample of a scrape: its name, labels and value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition. */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** A scrape of the server's /metrics. */
async function scrape(url = `${server.baseUrl}/metrics`): Promise<{ text: string; samples: Sample[]; contentType: string | null }> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  const text = await res.text();
  return { text, samples: parse(text), contentType: res.headers.get("content-type") };
}

/** The value of the sample `name` with (at least) `labels`; undefined when there is none. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

const P = "toolset_release_";
const GET_TOOLSET = "/toolsets.v1.ToolsetService/GetToolset";
const LIST_TOOLSETS = "/toolsets.v1.ToolsetService/ListToolsets";

describe("GET /metrics", () => {
  it("counts RPCs by procedure and code, with a latency histogram per procedure, and the process's metrics", async () => {
    const slug = uniqueSlug("counted");
    await api.createToolset(slug);
    const before = (await scrape()).samples;
    const count = (samples: Sample[], procedure: string, code: string) => value(samples, `${P}rpc_requests_total`, { procedure, code }) ?? 0;

    await api.live(slug);
    await api.with({ protocol: "grpc" }).live(slug);
    expect((await failure(api.live("no-such-toolset"))).code).toBe(Code.NotFound);

    const { samples, contentType } = await scrape();
    expect(contentType).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(count(samples, GET_TOOLSET, "OK") - count(before, GET_TOOLSET, "OK")).toBe(2);
    expect(count(samples, GET_TOOLSET, "NotFound") - count(before, GET_TOOLSET, "NotFound")).toBe(1);

    const latencyCount = (s: Sample[]) => value(s, `${P}rpc_duration_seconds_count`, { procedure: GET_TOOLSET }) ?? 0;
    expect(latencyCount(samples) - latencyCount(before)).toBe(3);
    const buckets = samples.filter((s) => s.name === `${P}rpc_duration_seconds_bucket` && s.labels["procedure"] === GET_TOOLSET);
    expect(buckets.map((b) => b.labels["le"])).toEqual([
      "0.001",
      "0.0025",
      "0.005",
      "0.01",
      "0.025",
      "0.05",
      "0.1",
      "0.25",
      "0.5",
      "1",
      "2.5",
      "5",
      "10",
      "30",
      "+Inf",
    ]);
    // Cumulative, ending at the count.
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    expect(buckets.at(-1)!.value).toBe(latencyCount(samples));
    expect(value(samples, `${P}rpc_duration_seconds_sum`, { procedure: GET_TOOLSET })).toBeGreaterThan(0);

    for (const name of [
      "process_cpu_user_seconds_total",
      "process_resident_memory_bytes",
      "nodejs_eventloop_lag_seconds",
      "nodejs_heap_size_used_bytes",
    ]) {
      expect(value(samples, name), name).toBeGreaterThanOrEqual(0);
    }
  });

  it("counts a call refused without a key, over every protocol", async () => {
    const count = (samples: Sample[]) => value(samples, `${P}rpc_requests_total`, { procedure: LIST_TOOLSETS, code: "Unauthenticated" }) ?? 0;
    const before = count((await scrape()).samples);
    for (const protocol of PROTOCOLS) {
      expect((await failure(server.client(ToolsetService, protocol).listToolsets({ project: tenant.project }))).code).toBe(Code.Unauthenticated);
    }
    // A call refused before the interceptors may be counted once its answer is written: after the client has it.
    await expect.poll(async () => count((await scrape()).samples) - before).toBe(PROTOCOLS.length);
  });

  it("reports the served state, the change feed, the pool and the open watches", async () => {
    const slug = uniqueSlug("served");
    await api.deploy([httpTool("served_tool")]);
    const notices = async () => value((await scrape()).samples, `${P}change_feed_notices_total`) ?? 0;
    const noticesBefore = await notices();
    await api.createToolset(slug, ["served_tool"]);
    await expect.poll(notices).toBeGreaterThan(noticesBefore);

    const before = (await scrape()).samples;
    await api.resolve(slug);
    await api.resolve(slug);
    await api.resolve(slug);
    const abort = new AbortController();
    const stream = api.releases().watchToolset({ project: tenant.project, slug }, { ...api.auth(), signal: abort.signal });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    const { samples } = await scrape();
    abort.abort();
    await iterator.next().catch(() => undefined);

    const delta = (name: string) => (value(samples, P + name) ?? 0) - (value(before, P + name) ?? 0);
    expect(delta("served_state_hits_total")).toBeGreaterThanOrEqual(2);
    expect(delta("served_state_misses_total")).toBeGreaterThanOrEqual(1);
    expect(value(samples, `${P}served_state_entries`)).toBeGreaterThan(0);
    expect(value(samples, `${P}served_state_bytes`)).toBeGreaterThan(0);
    expect(value(samples, `${P}served_state_max_bytes`)).toBe(64 * 1024 * 1024);
    expect(value(samples, `${P}served_state_enabled`)).toBe(1);
    expect(value(samples, `${P}served_state_evictions_total`)).toBe(0);

    expect(value(samples, `${P}change_feed_up`)).toBe(1);
    expect(value(samples, `${P}change_feed_reconnects_total`)).toBe(0);
    expect(value(samples, `${P}change_feed_lag_seconds_count`)).toBe(value(samples, `${P}change_feed_notices_total`));
    expect(value(samples, `${P}change_feed_last_lag_seconds`)).toBeGreaterThanOrEqual(0);
    expect(value(samples, `${P}change_feed_last_lag_seconds`)).toBeLessThan(30);

    expect(value(samples, `${P}db_pool_max_connections`, { pool: "main" })).toBe(5);
    const inUse = value(samples, `${P}db_pool_connections`, { pool: "main", state: "in_use" });
    const idle = value(samples, `${P}db_pool_connections`, { pool: "main", state: "idle" });
    expect(inUse).toBeGreaterThanOrEqual(0);
    expect(idle).toBeGreaterThan(0);
    expect(inUse! + idle!).toBeLessThanOrEqual(5);
    expect(value(samples, `${P}db_pool_waiting`, { pool: "main" })).toBe(0);

    expect(value(samples, `${P}watch_streams_open`)).toBe(1);
    expect(value(samples, `${P}watch_topics`)).toBe(1);
    // The watch and the scrape itself.
    expect(value(samples, `${P}requests_in_flight`)).toBeGreaterThanOrEqual(2);
    await expect.poll(async () => value((await scrape()).samples, `${P}watch_streams_open`)).toBe(0);
  });

  it("names no slug, key, organization, project or address, and only procedures the service serves", async () => {
    const slug = uniqueSlug("secret-slug");
    await api.createToolset(slug);
    await api.resolve(slug);
    // A path the service does not serve, and one with a slug in it.
    await fetch(`${server.baseUrl}/toolsets.v1.ToolsetService/${slug}`, { method: "POST" });
    await fetch(`${server.baseUrl}/${tenant.project}/metrics`);
    const { text, samples } = await scrape();
    for (const secret of [slug, tenant.org, tenant.project, tenant.producerKey, tenant.consumerKey, "127.0.0.1", "Bearer"]) {
      expect(text, secret).not.toContain(secret);
    }
    const served = new Set(
      [SourceService, ToolsetService, ReleaseService, AccountService, Health].flatMap((s) => s.methods.map((m) => `/${s.typeName}/${m.name}`)),
    );
    const procedures = new Set(samples.flatMap((s) => (s.labels["procedure"] === undefined ? [] : [s.labels["procedure"]])));
    expect(procedures.size).toBeGreaterThan(1);
    for (const p of procedures) expect(served.has(p), p).toBe(true);
  });

  it("counts a rate-limited call as refused, by its reason", async () => {
    const off = { perSecond: 0, burst: 1 };
    const own = await startTestServer(database.url, { rateLimits: { read: { perSecond: 1, burst: 1 }, write: off, anonymous: off } });
    try {
      const client = own.client(ToolsetService);
      await client.listToolsets({ project: tenant.project }, api.auth());
      expect((await failure(client.listToolsets({ project: tenant.project }, api.auth()))).code).toBe(Code.ResourceExhausted);
      const { samples } = await scrape(`${own.baseUrl}/metrics`);
      expect(value(samples, `${P}requests_refused_total`, { reason: "RATE_LIMITED" })).toBe(1);
      expect(value(samples, `${P}requests_refused_total`, { reason: "OVERLOADED" })).toBe(0);
      expect(value(samples, `${P}rpc_requests_total`, { procedure: LIST_TOOLSETS, code: "ResourceExhausted" })).toBe(1);
    } finally {
      await own.close();
    }
  });

  it("is served on METRICS_PORT alone when set, not on the service port", async () => {
    const own = await startTestServer(database.url, { metricsPort: 0 });
    try {
      expect((await fetch(`${own.baseUrl}/metrics`)).status).toBe(404);
      const address = own.app.metricsAddress;
      expect(address).toBeDefined();
      const { samples } = await scrape(`http://127.0.0.1:${address!.port}/metrics`);
      expect(value(samples, `${P}change_feed_up`)).toBe(1);
      expect((await fetch(`http://127.0.0.1:${address!.port}/toolsets.v1.ToolsetService/ListToolsets`, { method: "POST" })).status).toBe(404);
    } finally {
      await own.close();
    }
  });
});

describe("the metrics of one app", () => {
  const sources: MetricsSources = {
    served: { enabled: false, stats: { hits: 0, misses: 0, discardedFills: 0, evictions: 0, entries: 0, bytes: 0 } },
    servedStateMaxBytes: 0,
    watches: { stats: { topics: 0, watchers: 0, refreshes: 0 } },
    listener: undefined,
    pools: {},
    inFlight: () => 0,
  };
  const KNOWN = "/toolsets.v1.ToolsetService/ListToolsets";

  it("count refusals with a retry hint by reason; a procedure not served is 'unknown'; another app's start from zero", async () => {
    const metrics = createMetrics(new Set([KNOWN]), () => sources);
    metrics.rpcEnded(KNOWN, retryLater("slow down", Code.ResourceExhausted, 100, "RATE_LIMITED", { limit: "read" }), 0.002);
    metrics.rpcEnded(KNOWN, retryLater("busy", Code.ResourceExhausted, 50, "OVERLOADED"), 0.001);
    metrics.rpcEnded(KNOWN, new ConnectError("too big", Code.ResourceExhausted), 0.001); // no retry hint: not a refusal
    metrics.rpcEnded("/toolsets.v1.ToolsetService/some-slug", undefined, 0.5);
    metrics.rpcEnded(KNOWN, undefined, undefined); // a stream: counted, no latency
    metrics.refused("OVERLOADED");
    metrics.refused("made-up");
    const samples = parse(await metrics.render());
    const refused = (reason: string) => value(samples, `${P}requests_refused_total`, { reason });
    expect([refused("RATE_LIMITED"), refused("OVERLOADED"), refused("other")]).toEqual([1, 2, 1]);
    expect(value(samples, `${P}rpc_requests_total`, { procedure: KNOWN, code: "ResourceExhausted" })).toBe(3);
    expect(value(samples, `${P}rpc_requests_total`, { procedure: KNOWN, code: "OK" })).toBe(1);
    expect(value(samples, `${P}rpc_requests_total`, { procedure: "unknown", code: "OK" })).toBe(1);
    expect(value(samples, `${P}rpc_duration_seconds_count`, { procedure: KNOWN })).toBe(3);
    expect(samples.some((s) => s.labels["procedure"]?.includes("some-slug"))).toBe(false);
    expect(value(samples, `${P}change_feed_up`)).toBe(0);
    expect(samples.filter((s) => s.name.startsWith(`${P}db_pool`))).toEqual([]);

    const other = parse(await createMetrics(new Set([KNOWN]), () => sources).render());
    expect(other.filter((s) => s.name === `${P}rpc_requests_total`)).toEqual([]);
    // The reasons known to refuse start at 0 (a rate over them exists before the first refusal).
    expect(other.filter((s) => s.name === `${P}requests_refused_total`).map((s) => [s.labels["reason"], s.value])).toEqual([
      ["RATE_LIMITED", 0],
      ["OVERLOADED", 0],
      ["LOCK_TIMEOUT", 0],
    ]);
  });
});
