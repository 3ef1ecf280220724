// The official MCP conformance suite (@modelcontextprotocol/conformance, on the
// Node 22 of test/conformance/node_modules) against a fixture endpoint of the
// gateway, once per spec version, each with its expected-failures file.
//
//   node --import tsx test/conformance/run.ts [--only 2025-11-25|2026-07-28] [--results DIR]
//
// It gets a database the way the test harness does (DATABASE_URL, else Docker,
// else embedded PostgreSQL), starts the release service and the gateway in this
// process, creates a tenant and a toolset with a public MCP endpoint (four HTTP
// tools of a small upstream served here, two prompt templates), runs the suite
// against http://localhost:<port>/mcp/... and stops everything it started. Exit
// status 1 when a run fails (an unexpected failure, or a baseline entry that now
// passes), 2 when the set-up fails. `make conformance` installs and runs it.

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stripVTControlCharacters } from "node:util";
import type { TestProject } from "vitest/node";
import { parseUpstreamAllowList } from "../../gateway/upstream/index.js";
import { driver } from "../../server/testing/driver.js";
import { createTenant, httpTool, uniqueSlug } from "../../server/testing/fixtures.js";
import setupTestCluster, { withDatabase } from "../../server/testing/global-setup.js";
import { startTestServer, type TestServer } from "../../server/testing/server.js";
import { startTestGateway, type TestGateway } from "../support/gateway.js";

const VERSIONS = ["2025-11-25", "2026-07-28"] as const;
type Version = (typeof VERSIONS)[number];

/** Longest a whole suite run may take before its process group is killed (CONFORMANCE_RUN_TIMEOUT_MS). */
const RUN_TIMEOUT_MS = Number(process.env["CONFORMANCE_RUN_TIMEOUT_MS"]) || 300_000;
/** Longest the suite may spend on one scenario (its --timeout). */
const SCENARIO_TIMEOUT_MS = 30_000;

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const node22 = join(here, "node_modules/.bin/node");
const cli = join(here, "node_modules/@modelcontextprotocol/conformance/dist/index.js");

function parseArgs(argv: string[]): { versions: readonly Version[]; results: string | undefined } {
  let versions: readonly Version[] = VERSIONS;
  let results: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === "--only" && VERSIONS.includes(value as Version)) {
      versions = [value as Version];
      i++;
    } else if (arg === "--results" && value !== undefined) {
      results = resolve(value);
      i++;
    } else {
      throw new Error(`usage: run.ts [--only ${VERSIONS.join("|")}] [--results DIR] (got ${JSON.stringify(arg)})`);
    }
  }
  return { versions, results };
}

/** The upstream API of the fixture tools: /text answers text, /error a 500, anything else echoes the call as JSON. */
async function startUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = (req.url ?? "").replace(/\?.*$/, "");
      if (path === "/text") {
        res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
        res.end("This is a simple text response for testing.");
      } else if (path === "/error") {
        res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
        res.end("This tool intentionally returns an error for testing");
      } else {
        const body = Buffer.concat(chunks).toString("utf8");
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ method: req.method, url: req.url, body }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** The input schema the suite's json-schema-2020-12 scenario expects to find unchanged in tools/list (SEP-1613, SEP-2106). */
const SCHEMA_2020_12 = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  $defs: { address: { $anchor: "addressDef", type: "object", properties: { street: { type: "string" }, city: { type: "string" } } } },
  properties: {
    name: { type: "string" },
    address: { $ref: "#/$defs/address" },
    contactMethod: { type: "string", enum: ["phone", "email"] },
    phone: { type: "string" },
    email: { type: "string" },
  },
  allOf: [{ anyOf: [{ required: ["phone"] }, { required: ["email"] }] }],
  if: { properties: { contactMethod: { const: "phone" } }, required: ["contactMethod"] },
  then: { required: ["phone"] },
  else: { required: ["email"] },
  additionalProperties: false,
};

/**
 * A tenant, four HTTP tools of the upstream, two prompt templates and a toolset with
 * a public MCP endpoint; returns the endpoint's path. Where an HTTP tool or a
 * prompt template can be one of the suite's fixtures, it carries the fixture's
 * name, so the suite's scenarios exercise tools/call (text, and isError on a
 * non-2xx answer), schema preservation and prompt argument substitution; the
 * fixtures no HTTP tool can be (image, audio, resources, progress, logging,
 * sampling, elicitation) are in the expected-failures files.
 */
async function createFixture(server: TestServer, upstreamUrl: string): Promise<string> {
  const tenant = await createTenant(server.db);
  const api = driver(server, tenant);
  const noArguments = { type: "object", properties: {} };
  await api.deploy([
    httpTool("test_simple_text", { path: "/text", serverUrl: upstreamUrl, description: "Returns simple text.", inputSchema: noArguments }),
    httpTool("test_error_handling", { path: "/error", serverUrl: upstreamUrl, description: "Always fails (HTTP 500).", inputSchema: noArguments }),
    httpTool("json_schema_2020_12_tool", {
      httpMethod: "POST",
      path: "/contacts",
      serverUrl: upstreamUrl,
      description: "Tool with JSON Schema 2020-12 features",
      inputSchema: SCHEMA_2020_12,
    }),
    httpTool("get_forecast", {
      path: "/forecast/{city}",
      serverUrl: upstreamUrl,
      title: "Forecast",
      description: "The weather forecast of a city.",
      readOnlyHint: true,
      inputSchema: {
        type: "object",
        properties: {
          city: { type: "string", description: "City name" },
          days: { type: "integer", minimum: 1, maximum: 7 },
          units: { type: "string", enum: ["metric", "imperial"] },
        },
        required: ["city"],
      },
    }),
  ]);
  await api.upsertPrompt("test_prompt_with_arguments", "Prompt with arguments: arg1='{{arg1}}', arg2='{{arg2}}'", {
    description: "A prompt with two arguments",
    arguments: {
      type: "object",
      properties: { arg1: { type: "string", description: "First test argument" }, arg2: { type: "string", description: "Second test argument" } },
      required: ["arg1", "arg2"],
    },
  });
  await api.upsertPrompt("test_simple_prompt", "This is a simple prompt for testing.", { description: "A prompt without arguments" });
  const slug = uniqueSlug("conformance");
  const mcpSlug = uniqueSlug("mcp");
  await api.createToolset(
    slug,
    ["test_simple_text", "test_error_handling", "json_schema_2020_12_tool", "get_forecast"],
    ["test_prompt_with_arguments", "test_simple_prompt"],
  );
  await api.editLive(slug, { mcpSlug, mcpEnabled: true, mcpIsPublic: true });
  return `${tenant.org}/${tenant.project}/${mcpSlug}`;
}

/** Kill functions of the suite runs in progress (for a signal to this process). */
const running = new Set<(signal: NodeJS.Signals) => void>();

interface RunOutcome {
  version: Version;
  ok: boolean;
  summary: string;
}

/** Runs the suite for `version` against `url`, its output teed to `logFile`; kills its process group on timeout. */
function runSuite(version: Version, url: string, outDir: string, logFile: string): Promise<RunOutcome> {
  const baseline = join(here, `expected-failures-${version}.yml`);
  const args = [
    cli,
    "server",
    "--url",
    url,
    "--requirements",
    version,
    "--expected-failures",
    baseline,
    "-o",
    outDir,
    "--timeout",
    String(SCENARIO_TIMEOUT_MS),
  ];
  const started = Date.now();
  const child = spawn(node22, args, { cwd: here, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const tee = (stream: NodeJS.WriteStream) => (chunk: Buffer) => {
    output += chunk.toString("utf8");
    stream.write(chunk);
  };
  child.stdout.on("data", tee(process.stdout));
  child.stderr.on("data", tee(process.stderr));
  let timedOut = false;
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup("SIGTERM");
    setTimeout(() => killGroup("SIGKILL"), 5_000).unref();
  }, RUN_TIMEOUT_MS);
  running.add(killGroup);
  return new Promise((done) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
      clearTimeout(timer);
      running.delete(killGroup);
      writeFileSync(logFile, output);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const plain = stripVTControlCharacters(output);
      const scenarios = plain.match(/^[✓✗] [\w:-]+: \d+ passed, \d+ failed$/gmu)?.length ?? 0;
      const total = /^Total: (\d+) passed, (\d+) failed$/m.exec(plain);
      const matched =
        /Expected failures \(in baseline\):\n((?: {2}~ .*\n?)*)/
          .exec(plain)?.[1]
          ?.split("\n")
          .filter((l) => l.trim() !== "").length ?? 0;
      const counts = total
        ? `${scenarios} scenarios, ${matched} expected failures (baseline entries) seen; checks ${total[1]} passed, ${total[2]} failed`
        : "no totals printed";
      const ok = code === 0 && !timedOut && error === undefined;
      const why = timedOut
        ? `timed out after ${RUN_TIMEOUT_MS / 1000} s`
        : (error?.message ?? (signal ? `killed by ${signal}` : `exit status ${code}`));
      done({ version, ok, summary: `${version}: ${ok ? "PASS" : `FAIL (${why})`}: ${counts}; ${seconds} s; log ${display(logFile)}` });
    };
    child.once("error", (err) => finish(null, null, err));
    child.once("close", (code, signal) => finish(code, signal));
  });
}

/** A path relative to the checkout when inside it, else absolute. */
function display(path: string): string {
  const rel = relative(root, path);
  return rel.startsWith("..") ? path : rel;
}

async function main(): Promise<number> {
  let options: ReturnType<typeof parseArgs>;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const { versions, results } = options;
  if (!existsSync(node22) || !existsSync(cli)) {
    console.error("test/conformance is not installed: run `make conformance` (or `npm ci --prefix test/conformance`)");
    return 2;
  }
  const resultsDir = results ?? mkdtempSync(join(tmpdir(), "mcp-conformance-"));
  mkdirSync(resultsDir, { recursive: true });

  // Everything started is stopped in reverse order, whatever happens.
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch((err: unknown) => console.error("stopping:", err));
  };
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`conformance: ${signal}, stopping`);
    for (const kill of running) kill("SIGTERM");
    void stopAll().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  // The set-up and both runs together: a hang anywhere ends here, everything stopped.
  const watchdogMs = 60_000 + versions.length * (RUN_TIMEOUT_MS + 10_000);
  setTimeout(() => {
    console.error(`conformance: still running after ${watchdogMs / 1000} s, stopping`);
    for (const kill of running) kill("SIGKILL");
    void stopAll().finally(() => process.exit(124));
  }, watchdogMs).unref();

  const outcomes: RunOutcome[] = [];
  let gateway: TestGateway | undefined;
  try {
    // The harness's own cluster set-up (global-setup.ts): a migrated template database, used directly.
    const provided = new Map<string, string>();
    const project = { provide: (key: string, value: string) => void provided.set(key, value) } as unknown as TestProject;
    stops.push(await setupTestCluster(project));
    const databaseUrl = withDatabase(provided.get("pgAdminUrl") ?? "", provided.get("pgTemplate") ?? "");

    const server = await startTestServer(databaseUrl);
    stops.push(() => server.close());
    const upstream = await startUpstream();
    stops.push(() => upstream.close());
    const path = await createFixture(server, upstream.url);
    gateway = await startTestGateway(server.baseUrl, { upstreamAllow: parseUpstreamAllowList("127.0.0.1"), endpointIdleMs: 30_000 });
    stops.push(() => gateway!.close());
    // localhost, not 127.0.0.1: the suite's DNS-rebinding scenario needs a localhost URL.
    const url = `http://localhost:${new URL(gateway.url).port}/mcp/${path}`;
    console.log(`conformance: fixture endpoint ${url}; results in ${display(resultsDir)}`);

    for (const version of versions) {
      console.log(`\n== conformance ${version}`);
      outcomes.push(await runSuite(version, url, join(resultsDir, version), join(resultsDir, `${version}.log`)));
    }
  } catch (err) {
    console.error("conformance: set-up failed:", err);
    return 2;
  } finally {
    if (gateway) writeFileSync(join(resultsDir, "gateway-log.jsonl"), gateway.logs.map((l) => JSON.stringify(l)).join("\n") + "\n");
    await stopAll();
  }

  console.log("\n== MCP conformance");
  for (const o of outcomes) console.log(o.summary);
  return outcomes.every((o) => o.ok) ? 0 : 1;
}

process.exitCode = await main();
