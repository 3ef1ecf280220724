// Measures ResolveToolset, the call the MCP gateway makes on every session:
// latency percentiles and throughput for a toolset of TOOLS tools (default 500)
// with variations on every tool, over Connect JSON on HTTP/1.1. Prints numbers,
// asserts nothing. Uses DATABASE_URL (a server URL; a scratch database is
// created on it and dropped) or a throw-away embedded PostgreSQL.
//
//   npm run bench:resolve            TOOLS=1000 REQUESTS=2000 npm run bench:resolve
import { ReleaseService } from "../gen/releases/v1/releases_pb.js";
import { SourceService } from "../gen/sources/v1/sources_pb.js";
import { ToolsetService } from "../gen/toolsets/v1/toolsets_pb.js";
import { createTenant } from "../server/testing/fixtures.js";
import { bearer } from "../server/testing/server.js";
import { percentile, runMain, withScratchServer } from "./scratch.js";

const TOOLS = Number(process.env["TOOLS"] ?? 500);
const REQUESTS = Number(process.env["REQUESTS"] ?? 1000);
const CONCURRENCY = Number(process.env["CONCURRENCY"] ?? 8);

async function main(): Promise<void> {
  await withScratchServer(async (server) => {
    const tenant = await createTenant(server.db);
    const auth = bearer(tenant.producerKey);
    const names = Array.from({ length: TOOLS }, (_, i) => `tool_${i}`);
    await server.client(SourceService).createDeployment(
      {
        project: tenant.project,
        tools: names.map((n) => ({
          source: "api",
          name: n,
          httpMethod: "POST",
          path: `/${n}`,
          description: `Calls ${n}`,
          inputSchema: { type: "object", properties: { id: { type: "string" } } },
        })),
      },
      auth,
    );
    const urns = names.map((n) => `tools:http:api:${n}`);
    const toolsets = server.client(ToolsetService);
    await toolsets.createToolset({ project: tenant.project, name: "Bench", slug: "bench", toolUrns: urns }, auth);
    for (const urn of urns) {
      await toolsets.upsertToolVariation({ project: tenant.project, scope: { global: true }, variation: { srcToolUrn: urn, title: "global" } }, auth);
      await toolsets.upsertToolVariation(
        { project: tenant.project, scope: { toolsetSlug: "bench" }, variation: { srcToolUrn: urn, confirm: true } },
        auth,
      );
    }
    const releases = server.client(ReleaseService);
    const resolve = () => releases.resolveToolset({ project: tenant.project, slug: "bench" }, auth);
    const { resolved } = await resolve();
    for (let i = 0; i < 20; i++) await resolve(); // warm-up

    const run = async (label: string, call: () => Promise<unknown>) => {
      const latencies: number[] = [];
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < REQUESTS) {
            next++;
            const t0 = performance.now();
            await call();
            latencies.push(performance.now() - t0);
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      latencies.sort((a, b) => a - b);
      const pct = (p: number) => percentile(latencies, p);
      console.log(
        `${label}: ${REQUESTS} requests, concurrency ${CONCURRENCY}: p50 ${pct(50)} ms, p95 ${pct(95)} ms, p99 ${pct(99)} ms, ${(REQUESTS / seconds).toFixed(0)} req/s`,
      );
    };
    console.log(`ResolveToolset with ${TOOLS} tools (${resolved?.tools.length} served), global and toolset variations on each`);
    await run("full response", resolve);
    await run("if_none_match (not modified)", () =>
      releases.resolveToolset({ project: tenant.project, slug: "bench", ifNoneMatch: resolved!.etag }, auth),
    );
    console.log(`heap used: ${(process.memoryUsage().heapUsed / 1024 / 1024).toFixed(0)} MiB`);
  });
}

runMain(main);
