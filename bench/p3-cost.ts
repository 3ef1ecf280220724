// P3: what one resolve and one publish cost as the toolset grows: time (p50
// of REPS calls, one at a time), response bytes on the wire, and SQL statements
// per call. Statements are counted with the Kysely `onQuery` hook of an
// in-process server (server/testing/server.ts; BEGIN and COMMIT included), so
// this part runs the server inside the bench process. Resolves are sent and
// read as bytes (bench/lib/load.ts), so their times hold no client decoding;
// publishes go through the generated client. A toolset selects at most 1,000
// tools (tool_urns), so a larger size is a deployment of that many tools with a
// toolset of 1,000 of them.
import { ReleaseService } from "../gen/releases/v1/releases_pb.js";
import { LIMITS } from "../server/platform/validate.js";
import { startTestServer, type TestServer } from "../server/testing/server.js";
import type { BenchContext } from "./lib/context.js";
import { encodeCall, LoadClient, type Call, type Wire } from "./lib/load.js";
import { options, VARIATIONS } from "./lib/options.js";
import { add, bytes, ms, n0, progress, ratio } from "./lib/report.js";
import { clientsOf, seedToolset, type Seeded } from "./lib/seed.js";
import { percentile, sorted } from "./scratch.js";

const GRPC_GOAL = 2;

interface Sample {
  ms: number[];
  statements: number[];
}

const sample = (): Sample => ({ ms: [], statements: [] });

async function measure<T>(server: TestServer, into: Sample, call: () => Promise<T>): Promise<T> {
  server.queries.length = 0;
  const t0 = performance.now();
  const result = await call();
  into.ms.push(performance.now() - t0);
  into.statements.push(server.queries.length);
  return result;
}

/** Sends one prebuilt call on `client`'s connection; records its time and statements, returns its response bytes. */
async function measureRaw(server: TestServer, into: Sample, client: LoadClient, call: Call): Promise<number> {
  server.queries.length = 0;
  const r = await client.run([call], Infinity, 1);
  if (r.errors > 0) throw new Error(`ResolveToolset failed: ${r.firstError}`);
  into.ms.push(r.latencies[0]!);
  into.statements.push(server.queries.length);
  return r.bytes;
}

const p50 = (s: Sample) => percentile(sorted(s.ms), 50);
/** The statement count, or its range when calls differ. */
function statements(s: Sample): string {
  const lo = Math.min(...s.statements);
  const hi = Math.max(...s.statements);
  return lo === hi ? `${lo}` : `${lo}–${hi}`;
}

export async function p3(ctx: BenchContext): Promise<void> {
  const server = await startTestServer(ctx.database.url);
  try {
    const clients = clientsOf(server.baseUrl);
    const raw: Record<Wire, LoadClient> = {
      "json-h1": new LoadClient("json-h1", server.port, 1),
      "grpc-h2c": new LoadClient("grpc-h2c", server.port, 1),
    };
    const first = new Map<string, number>();
    for (const size of options.sizes) {
      // A toolset selects at most LIMITS.listItems tools; a larger size is the deployment's.
      const tools = Math.min(size, LIMITS.listItems);
      const label = tools === size ? `${n0(size)} tools` : `${n0(size)} tools deployed, toolset of ${n0(tools)}`;
      progress(`P3: ${label}`);
      const seeded: Seeded = await seedToolset(ctx.db, clients, {
        tools,
        deployed: size,
        globalVariations: Math.min(VARIATIONS.global, size),
        toolsetVariations: Math.min(VARIATIONS.toolset, size),
      });
      const request = { project: seeded.project, slug: seeded.slug };
      const resolve = (wire: Wire, ifNoneMatch = "") =>
        encodeCall(wire, ReleaseService.method.resolveToolset, { ...request, ifNoneMatch }, seeded.auth.headers);
      const publish = sample();
      const cold = sample();
      const warm = sample();
      const coldGrpc = sample();
      const warmGrpc = sample();
      const notModified = sample();
      let jsonBytes = 0;
      let grpcBytes = 0;
      let etag = "";
      // Two rounds unrecorded first (JIT, connections, caches of the process).
      const warmUp = 2;
      for (let i = 0; i < warmUp + options.reps; i++) {
        if (i === warmUp) {
          for (const s of [publish, cold, warm, coldGrpc, warmGrpc, notModified]) {
            s.ms.length = 0;
            s.statements.length = 0;
          }
        }
        await seeded.edit(clients);
        ({ etag } = await measure(server, publish, () => seeded.publish(clients)));
        jsonBytes = await measureRaw(server, cold, raw["json-h1"], resolve("json-h1"));
        await measureRaw(server, warm, raw["json-h1"], resolve("json-h1"));
        grpcBytes = await measureRaw(server, coldGrpc, raw["grpc-h2c"], resolve("grpc-h2c"));
        await measureRaw(server, warmGrpc, raw["grpc-h2c"], resolve("grpc-h2c"));
        await measureRaw(server, notModified, raw["json-h1"], resolve("json-h1", etag));
      }
      // The release's etag is what live serves: if_none_match of it is not modified.
      const check = await clients.releases.resolveToolset({ ...request, ifNoneMatch: etag }, seeded.auth);
      if (!check.notModified) throw new Error("if_none_match of the published etag was not answered not_modified");
      const row = (key: string, what: string, s: Sample, extra: Partial<Parameters<typeof add>[0]> = {}) => {
        if (!first.has(key)) first.set(key, p50(s));
        const base = first.get(key)!;
        add({
          bench: "P3",
          case: `${label} · ${what}`,
          figure: `${ms(p50(s))} · ${statements(s)} statements`,
          ...(size !== options.sizes[0] ? { baseline: `${ms(base)} at ${n0(options.sizes[0]!)} tools`, ratio: ratio(p50(s) / base) } : {}),
          ...extra,
        });
      };
      row("cold", `resolve full, first after publish (Connect JSON, ${bytes(jsonBytes)})`, cold);
      row("warm", "resolve full, again (Connect JSON)", warm);
      row("cold-grpc", `resolve full, first gRPC call after publish (${bytes(grpcBytes)})`, coldGrpc);
      const x = p50(warmGrpc) / p50(warm);
      add({
        bench: "P3",
        case: `${label} · resolve full, again (gRPC)`,
        figure: `${ms(p50(warmGrpc))} · ${statements(warmGrpc)} statements`,
        baseline: `${ms(p50(warm))} Connect JSON`,
        ratio: ratio(x),
        goal: `≤ ${GRPC_GOAL}× JSON`,
        met: x <= GRPC_GOAL,
      });
      row("not-modified", "resolve not modified", notModified, { goal: "0 statements", met: Math.max(...notModified.statements) === 0 });
      row("publish", "publish", publish);
    }
    for (const c of Object.values(raw)) c.close();
  } finally {
    await server.close();
  }
}
