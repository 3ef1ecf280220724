// Memory: the resident set (VmRSS) of a fresh server process idle, after
// MEM_RESOLVES resolves of the P1 toolset (one in ten a full body, the rest
// if_none_match, Connect JSON on CONNECTIONS connections; at most MEM_SECONDS
// of them), and with MEM_WATCHERS WatchToolset streams open (gRPC over h2c,
// 100 streams per connection), each having received its first message.
import { setMaxListeners } from "node:events";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ReleaseService } from "../gen/releases/v1/releases_pb.js";
import type { BenchContext } from "./lib/context.js";
import { encodeCall, LoadClient, rate } from "./lib/load.js";
import { options } from "./lib/options.js";
import { startServer } from "./lib/processes.js";
import { add, n0, progress, ratio } from "./lib/report.js";

const STREAMS_PER_CONNECTION = 100;
const settle = (msec: number) => new Promise((r) => setTimeout(r, msec));
const mib = (x: number) => `${x.toFixed(0)} MiB`;

export async function memory(ctx: BenchContext): Promise<void> {
  const main = ctx.main;
  const server = await startServer("memory", ctx.database.url);
  const stop = new AbortController();
  setMaxListeners(options.memWatchers + 10, stop.signal); // one per stream
  try {
    await settle(2_000);
    const idle = server.rssMiB();
    add({ bench: "Memory", case: "RSS of a server process, idle (after start)", figure: mib(idle) });

    const request = { project: main.project, slug: main.slug };
    const etag = (await ctx.clients.releases.resolveToolset(request, main.auth)).resolved!.etag;
    const full = encodeCall("json-h1", ReleaseService.method.resolveToolset, request, main.auth.headers);
    const notModified = encodeCall("json-h1", ReleaseService.method.resolveToolset, { ...request, ifNoneMatch: etag }, main.auth.headers);
    progress(`Memory: up to ${n0(options.memResolves)} resolves in at most ${options.memSeconds} s`);
    const load = new LoadClient("json-h1", server.port, options.connections);
    const result = await load.run([full, ...Array<typeof full>(9).fill(notModified)], options.memSeconds, options.memResolves);
    load.close();
    await settle(1_000);
    const loaded = server.rssMiB();
    const capped = result.calls < options.memResolves ? ` (time cap ${options.memSeconds} s, ${n0(rate(result))} req/s)` : "";
    add({
      bench: "Memory",
      case: `RSS after ${n0(result.calls)} resolves${capped}, 1 in 10 full`,
      figure: mib(loaded),
      baseline: `${mib(idle)} idle`,
      ratio: ratio(loaded / idle),
    });

    progress(`Memory: opening ${n0(options.memWatchers)} WatchToolset streams`);
    const clients: Client<typeof ReleaseService>[] = [];
    for (let i = 0; i < Math.ceil(options.memWatchers / STREAMS_PER_CONNECTION); i++) {
      clients.push(createClient(ReleaseService, createGrpcTransport({ baseUrl: server.baseUrl })));
    }
    let firsts = 0;
    let failure: ConnectError | undefined;
    const streams = Array.from({ length: options.memWatchers }, async (_, i) => {
      try {
        let first = true;
        for await (const _m of clients[Math.floor(i / STREAMS_PER_CONNECTION)]!.watchToolset(request, { ...main.auth, signal: stop.signal })) {
          if (first) firsts++;
          first = false;
        }
      } catch (e) {
        if (!stop.signal.aborted) failure ??= ConnectError.from(e);
      }
    });
    const deadline = Date.now() + 60_000;
    while (firsts < options.memWatchers && failure === undefined && Date.now() < deadline) await settle(20);
    if (failure !== undefined || firsts < options.memWatchers) {
      const why = failure?.code === Code.Unimplemented ? "WatchToolset not implemented" : (failure?.message ?? `${firsts} first messages in 60 s`);
      add({ bench: "Memory", case: `RSS with ${n0(options.memWatchers)} open WatchToolset streams`, figure: `n/a: ${why}` });
    } else {
      await settle(2_000);
      const watching = server.rssMiB();
      add({
        bench: "Memory",
        case: `RSS with ${n0(options.memWatchers)} open WatchToolset streams (${(((watching - loaded) * 1024) / options.memWatchers).toFixed(1)} KiB each)`,
        figure: mib(watching),
        baseline: `${mib(loaded)} before`,
        ratio: ratio(watching / loaded),
      });
    }
    stop.abort();
    await Promise.all(streams);
  } finally {
    stop.abort();
    await server.stop();
  }
}
