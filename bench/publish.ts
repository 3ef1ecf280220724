// Measures PublishStagingVersion as a toolset's history grows: the latency of
// each publish (after a one-field staging edit) in windows of WINDOW publishes
// at the start, the middle and the end of RELEASES publishes, for a toolset of
// TOOLS tools. A publish must cost the same at release 10 and release 10,000.
// Prints numbers, asserts nothing. Database as in bench/resolve.ts.
//
//   npm run bench:publish            RELEASES=2000 TOOLS=200 npm run bench:publish
import { ReleaseService } from "../gen/releases/v1/releases_pb.js";
import { SourceService } from "../gen/sources/v1/sources_pb.js";
import { EditingMode, ToolsetService } from "../gen/toolsets/v1/toolsets_pb.js";
import { createTenant, httpTool } from "../server/testing/fixtures.js";
import { bearer } from "../server/testing/server.js";
import { percentile, runMain, withScratchServer } from "./scratch.js";

const RELEASES = Number(process.env["RELEASES"] ?? 1000);
const TOOLS = Number(process.env["TOOLS"] ?? 100);
const WINDOW = Math.min(50, Math.floor(RELEASES / 3));

async function main(): Promise<void> {
  await withScratchServer(async (server) => {
    const tenant = await createTenant(server.db);
    const auth = bearer(tenant.producerKey);
    const project = tenant.project;
    const names = Array.from({ length: TOOLS }, (_, i) => `tool_${i}`);
    await server.client(SourceService).createDeployment({ project, tools: names.map((n) => httpTool(n)) }, auth);
    const toolsets = server.client(ToolsetService);
    const releases = server.client(ReleaseService);
    await toolsets.createToolset({ project, name: "Bench", slug: "bench", toolUrns: names.map((n) => `tools:http:api:${n}`) }, auth);
    await toolsets.switchEditingMode({ project, slug: "bench", mode: EditingMode.STAGING }, auth);

    const latencies: number[] = [];
    for (let i = 0; i < RELEASES; i++) {
      await toolsets.updateToolset(
        { project, slug: "bench", staging: true, fields: { description: `edit ${i}` }, updateMask: { paths: ["description"] } },
        auth,
      );
      const t0 = performance.now();
      await releases.publishStagingVersion({ project, slug: "bench" }, auth);
      latencies.push(performance.now() - t0);
    }
    const report = (label: string, from: number) => {
      const window = latencies.slice(from, from + WINDOW).sort((a, b) => a - b);
      console.log(`${label} (publishes ${from + 1}-${from + window.length}): p50 ${percentile(window, 50)} ms, p95 ${percentile(window, 95)} ms`);
    };
    console.log(`PublishStagingVersion, ${TOOLS} tools, ${RELEASES} publishes of one toolset`);
    report("first", 0);
    report("middle", Math.floor(RELEASES / 2) - Math.floor(WINDOW / 2));
    report("last", RELEASES - WINDOW);
  });
}

runMain(main);
