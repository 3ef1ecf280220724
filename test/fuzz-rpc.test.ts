import { gzipSync } from "node:zlib";
import { toBinary, toJsonString, type DescMethod } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { EditingMode } from "../gen/toolsets/v1/toolsets_pb.js";
import { SERVICES } from "../server/app.js";
import { createLogger } from "../server/platform/logging.js";
import { httpTool, urn } from "../server/testing/fixtures.js";
import { attempt } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";
import {
  base64Url,
  binaryCases,
  envelope,
  fillRequest,
  framingCases,
  isRead,
  jsonCases,
  randomRequest,
  Rng,
  WireClient,
  wiresOf,
  type FuzzCase,
  type Wire,
  type WireAnswer,
  type WireRequest,
} from "./support/fuzz-rpc.js";

// Every RPC of every service the process serves (SERVICES, read from the
// descriptors, so a new RPC is fuzzed without a word here), on every wire
// protocol, with bad and boundary input, with the producer key and without.
// Whatever comes in, the answer is never INTERNAL (nor UNKNOWN, DATA_LOSS,
// UNAVAILABLE or DEADLINE_EXCEEDED: the database is healthy), a Connect
// answer is never an HTTP 5xx, bad input is refused as such, the server stays
// healthy, and a refused write leaves the live content as it was.
//
// Bounded and repeatable: the cases are drawn from a seeded PRNG
// (FUZZ_SEED=<n> to try another seed; a failure prints the seed).

const SEED = Number(process.env["FUZZ_SEED"] ?? 1_100_011);
/** Share of the keyed cases also sent without a key. */
const ANONYMOUS_SHARE = 0.1;
/** Cases drawn per kind (malformed JSON, random bytes, …) for each method. */
const PER_KIND = 3;
/** The slug of the toolset most requests address. */
const SLUG = "fuzz-main";

/** Codes a healthy server never answers to a request, however bad. */
const FORBIDDEN = new Set<Code>([Code.Internal, Code.Unknown, Code.DataLoss, Code.Unavailable, Code.DeadlineExceeded]);

/** The server's error log lines, the last few, quoted when a case fails. */
const errorLines: string[] = [];
const logger = createLogger("error", {
  write: (line: string) => {
    errorLines.push(line.trimEnd());
    if (errorLines.length > 20) errorLines.shift();
  },
});

const { server, tenant, database, api } = useTestServer({ tenants: 1, server: { logger } });
let wire: WireClient;
let inspector: pg.Client;
let fingerprintSql: string;
let deploymentId: string;

beforeAll(async () => {
  deploymentId = (await api.deploy([httpTool("a"), httpTool("b")])).id;
  await api.upsertPrompt("p1", "hello");
  await ensureFixture();
  wire = new WireClient(server.baseUrl);
  inspector = new pg.Client({ connectionString: database.url });
  await inspector.connect();
  // Per table, its row count and newest row version (the largest xmin): a committed insert,
  // update or delete changes one of them; a rolled-back write leaves both as they were.
  const { rows } = await inspector.query<{ name: string }>(
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name NOT LIKE 'kysely_%' ORDER BY 1",
  );
  fingerprintSql = `SELECT ${rows.map(({ name }) => `(SELECT count(*) || ':' || coalesce(max(xmin::text::bigint), 0) FROM "${name}") AS "${name}"`).join(", ")}`;
});
afterAll(async () => {
  wire?.close();
  await inspector?.end();
});

/**
 * Puts the fixture back the way the cases expect it (a write that was
 * accepted may have deleted the toolset, left staging mode or discarded the
 * staging copy): SLUG in staging mode with releases and a staging copy, a
 * global variation of tool a.
 */
async function ensureFixture(): Promise<void> {
  const live = await attempt(api.live(SLUG));
  if (!live.ok) {
    await api.staged(SLUG, ["a"], ["p1"]);
    await api.editStaging(SLUG, { description: "second" });
    await api.publish(SLUG, "second");
  } else if (live.value.editingMode !== EditingMode.STAGING) {
    await api.switchMode(SLUG, EditingMode.STAGING);
  }
  if (!(await attempt(api.stagingCopy(SLUG))).ok) await api.toolsets().createStagingVersion({ project: tenant.project, slug: SLUG }, api.auth());
  if ((await api.listVariations({ global: true })).length === 0) await api.globalVariation("a", "varied");
}

/** What a refused write must leave alone, looked at after each: every table's rows, and what SLUG serves (its live etag). */
async function contentState(): Promise<string> {
  const [tables, live] = await Promise.all([
    inspector.query(fingerprintSql).then((r) => r.rows[0] as Record<string, string>),
    attempt(api.resolve(SLUG)).then((r) => (r.ok ? r.value.etag : `error ${r.code}`)),
  ]);
  return JSON.stringify({ live, ...tables });
}

/** SLUG's releases as ListReleases answers them (a * marks the current one). */
async function releaseList(): Promise<string> {
  const r = await attempt(api.listReleases(SLUG, 500));
  return r.ok ? r.value.releases.map((x) => `${x.releaseNumber}${x.isCurrent ? "*" : ""}`).join(" ") : `error ${r.code}`;
}

/** The values requests are filled with: names of the fixture, so that mutations reach the handlers. */
function fillValues() {
  return {
    byName: {
      project: tenant.project,
      slug: SLUG,
      toolset_slug: SLUG,
      mcp_slug: "",
      organization: "",
      id: deploymentId,
      name: "fuzz-name",
      src_tool_urn: urn("a"),
      tool_urns: [urn("a")],
      resource_urns: [],
      prompt_template_names: ["p1"],
      release_number: "1",
      page_size: 10,
      page_token: "",
      idempotency_key: "fuzz-key",
      if_none_match: "",
      service: "",
      tools: [{ source: "api", name: "a", httpMethod: "GET", path: "/a", description: "a from source" }],
    },
  };
}

/** Percent-encodes every byte but the unreserved ones (Connect GET's `message`). */
function percentEncode(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += /[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, "0")}`;
  return out;
}

/** A case as sent on one wire. */
interface Planned extends FuzzCase {
  request: WireRequest;
}

/** Every case of `method` on every wire it can be called over, drawn with `rng`. */
function plan(method: DescMethod, rng: Rng): Planned[] {
  const base = fillRequest(method.input, fillValues());
  const json = jsonCases(method.input, base, rng, PER_KIND);
  const bin = binaryCases(method.input, base, rng, PER_KIND);
  // Well-typed requests with random values in random fields, on every wire.
  for (let i = 0; i < PER_KIND; i++) {
    const random = randomRequest(method.input, fillValues(), rng);
    json.push({ name: `random request ${i}`, reject: false, json: new TextEncoder().encode(toJsonString(method.input, random)) });
    bin.push({ name: `random request ${i}`, reject: false, bytes: toBinary(method.input, random) });
  }
  const validJson = json.find((c) => c.name === "valid")!.json;
  const validBin = bin.find((c) => c.name === "valid")!.bytes;
  const unary = method.methodKind === "unary";
  const out: Planned[] = [];
  const add = (w: Wire, c: FuzzCase, body: Uint8Array, more: Partial<WireRequest> = {}) =>
    out.push({ name: `${w}: ${c.name}`, reject: c.reject, request: { wire: w, method, body, ...more } });

  for (const w of wiresOf(method)) {
    switch (w) {
      case "connect-json":
      case "connect-binary": {
        const cases = w === "connect-json" ? json.map((c) => ({ ...c, body: c.json })) : bin.map((c) => ({ ...c, body: c.bytes }));
        const valid = w === "connect-json" ? validJson : validBin;
        if (unary) {
          for (const c of cases) add(w, c, c.body);
          const gz = gzipSync(valid);
          add(w, { name: "gzip", reject: false }, gz, { headers: { "content-encoding": "gzip" } });
          add(w, { name: "truncated gzip", reject: true }, gz.subarray(0, gz.length >> 1), { headers: { "content-encoding": "gzip" } });
          add(w, { name: "not gzip", reject: true }, Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]), { headers: { "content-encoding": "gzip" } });
          add(w, { name: "unknown content-encoding", reject: true }, valid, { headers: { "content-encoding": "snappy" } });
          // connect-es reads no other version than 1, and does not insist on the header: anything but INTERNAL will do.
          add(w, { name: "connect-protocol-version 2", reject: false }, valid, { headers: { "connect-protocol-version": "2" } });
        } else {
          for (const c of cases) add(w, c, envelope(0, c.body));
          for (const f of framingCases(valid, "connect", false)) add(w, f, f.body, f.headers ? { headers: f.headers } : {});
        }
        break;
      }
      case "connect-get": {
        const get = (c: FuzzCase, query: string) => add(w, c, new Uint8Array(0), { query });
        for (const c of rng.sample(json, 8)) get(c, `connect=v1&encoding=json&message=${percentEncode(c.json)}`);
        for (const c of rng.sample(bin, 8)) get(c, `connect=v1&encoding=proto&base64=1&message=${base64Url(c.bytes)}`);
        const b64 = base64Url(validBin);
        get({ name: "invalid base64", reject: true }, "connect=v1&encoding=proto&base64=1&message=%21%21%21*");
        get({ name: "base64 of JSON without base64=1", reject: true }, `connect=v1&encoding=json&message=${base64Url(validJson)}`);
        get({ name: "no message", reject: false }, "connect=v1&encoding=proto");
        get({ name: "no encoding", reject: true }, `connect=v1&base64=1&message=${b64}`);
        get({ name: "encoding xml", reject: true }, `connect=v1&encoding=xml&base64=1&message=${b64}`);
        get({ name: "gzip", reject: false }, `connect=v1&encoding=proto&base64=1&compression=gzip&message=${base64Url(gzipSync(validBin))}`);
        // An empty message (GetCallerRequest{}) is sent as no bytes, which need no decompressing: send bytes that are not gzip instead.
        const notGzip = validBin.length > 0 ? b64 : base64Url(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]));
        get({ name: "not gzip", reject: true }, `connect=v1&encoding=proto&base64=1&compression=gzip&message=${notGzip}`);
        get({ name: "unknown compression", reject: true }, `connect=v1&encoding=proto&base64=1&compression=snappy&message=${b64}`);
        get({ name: "connect=v2", reject: false }, `connect=v2&encoding=proto&base64=1&message=${b64}`);
        break;
      }
      case "grpc":
      case "grpc-web": {
        for (const c of w === "grpc" ? bin : rng.sample(bin, 16)) add(w, c, envelope(0, c.bytes));
        for (const f of framingCases(validBin, "grpc", unary)) add(w, f, f.body, f.headers ? { headers: f.headers } : {});
        break;
      }
    }
  }
  return out;
}

/** Why an answer is wrong, or undefined when it is acceptable. */
function verdict(c: Planned, a: WireAnswer, keyed: boolean): string | undefined {
  if (a.problem !== undefined) return a.problem;
  // A refusal by the HTTP layer (415 unsupported encoding, 431 a URL too long) is an honest answer too.
  if (a.httpRefusal) return undefined;
  if (a.code === undefined) return `no status (HTTP ${a.httpStatus})`;
  if (a.code !== "ok" && FORBIDDEN.has(a.code)) return `${Code[a.code]} (HTTP ${a.httpStatus}): ${a.message}`;
  // A Connect answer is 5xx only for the codes above, and 501 for an encoding the protocol has no support for.
  if (c.request.wire.startsWith("connect") && a.httpStatus >= 500 && !(a.httpStatus === 501 && a.code === Code.Unimplemented)) {
    return `HTTP ${a.httpStatus} (${a.code === "ok" ? "ok" : Code[a.code]}): ${a.message}`;
  }
  if (c.reject) {
    const allowed = [Code.InvalidArgument, Code.ResourceExhausted, Code.Unimplemented, ...(keyed ? [] : [Code.Unauthenticated])];
    if (a.code === "ok") return "bad input accepted";
    if (!allowed.includes(a.code)) return `bad input answered ${Code[a.code]}: ${a.message}`;
  }
  return undefined;
}

/** /healthz, /readyz and a health Check (gRPC) all answer. */
async function expectHealthy(): Promise<void> {
  expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
  expect((await fetch(`${server.baseUrl}/readyz`)).status).toBe(200);
  expect((await server.client(Health, "grpc").check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
}

/** A seed of its own per method, so that adding an RPC changes no other method's cases. */
function methodSeed(method: DescMethod): number {
  let h = SEED >>> 0;
  for (const ch of `${method.parent.typeName}/${method.name}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return h;
}

const METHODS = SERVICES.flatMap((s) => s.methods);

describe(`fuzzing every RPC on every protocol (FUZZ_SEED=${SEED})`, () => {
  it("covers every RPC of SERVICES", () => {
    expect(METHODS.map((m) => m.name)).toEqual(
      expect.arrayContaining(["PublishStagingVersion", "ResolveToolset", "WatchToolset", "CreateDeployment", "GetCaller", "ListProjects", "Check"]),
    );
    expect(METHODS.length).toBeGreaterThanOrEqual(30);
  });

  for (const method of METHODS) {
    // Health has no side effects, though its proto does not say so.
    const write = !isRead(method) && method.parent.typeName !== Health.typeName;
    it(`${method.parent.name}/${method.name}${write ? " (write)" : ""}`, { timeout: 60_000 }, async () => {
      const rng = new Rng(methodSeed(method));
      const keyed = plan(method, rng);
      const anonymous = rng.sample(keyed, Math.ceil(keyed.length * ANONYMOUS_SHARE));
      const failures: string[] = [];
      await ensureFixture();
      const named = (c: Planned, withKey: boolean) => `${c.name}${withKey ? "" : " (no key)"}`;
      // The state after the last accepted write (or the start): refused writes must leave it as it is.
      let state = write ? await contentState() : "";
      let releases = write ? await releaseList() : "";
      const run = async (c: Planned, withKey: boolean) => {
        const headers = { ...c.request.headers, ...(withKey ? { authorization: `Bearer ${tenant.producerKey}` } : {}) };
        const answer = await wire.send({ ...c.request, headers });
        const wrong = verdict(c, answer, withKey);
        if (wrong !== undefined) failures.push(`${named(c, withKey)}: ${wrong}`);
        if (!write) return;
        if (answer.code === "ok") {
          // An accepted write may change anything: no failure; the fixture is set up again and becomes the new state.
          await ensureFixture();
          [state, releases] = await Promise.all([contentState(), releaseList()]);
          return;
        }
        const after = await contentState();
        if (after !== state)
          failures.push(
            `${named(c, withKey)}: refused (${answer.code === undefined ? `HTTP ${answer.httpStatus}` : Code[answer.code]}) but ${changed(state, after)} changed`,
          );
        state = after;
      };
      for (const c of keyed) await run(c, true);
      for (const c of anonymous) await run(c, false);
      // ListReleases reads what the table fingerprint covers; it is compared once, over the writes refused since the last accepted one.
      if (write && (await releaseList()) !== releases)
        failures.push(`the release list changed over refused writes: ${releases} → ${await releaseList()}`);
      await expectHealthy();
      expect(
        failures,
        `FUZZ_SEED=${SEED}, ${failures.length} of ${keyed.length + anonymous.length} cases wrong; server errors:\n${errorLines.join("\n")}`,
      ).toEqual([]);
    });
  }
});

/** What differs between two content states (the live etag, tables). */
function changed(before: string, after: string): string {
  const a = JSON.parse(before) as Record<string, string>;
  const b = JSON.parse(after) as Record<string, string>;
  return Object.keys(b)
    .filter((k) => a[k] !== b[k])
    .join(", ");
}
