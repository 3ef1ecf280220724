// Memory: the resident set (VmRSS) of a fresh server process idle, after
// MEM_RESOLVES resolves of the P1 toolset (one in ten a full body, the rest
// if_none_match, Connect JSON on CONNECTIONS connections; at most MEM_SECONDS
// of them), and with MEM_WATCHERS WatchToolset streams open (gRPC over h2c,
// 100 streams per connection), each having received its first message.
import { ReleaseService } from "../gen/releases/v1/releases_pb.js";
import type { BenchContext } from "./lib/context.js";
import { encodeCall, LoadClient, rate, StreamSessions } from "./lib/load.js";
import { options } from "./lib/options.js";
import { startServer } from "./lib/processes.js";
import { add, n0, progress, ratio } from "./lib/report.js";

const STREAMS_PER_CONNECTION = 100;
const settle = (msec: number) => new Promise((r) => setTimeout(r, msec));
const mib = (x: number) => `${x.toFixed(0)} MiB`;

export async function memory(ctx: BenchContext): Promise<void> {
  const main = ctx.main;
  const server = await startServer("memory", ctx.database.url);
  let stopping = false;
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
    const sessions = new StreamSessions(server.port, STREAMS_PER_CONNECTION, Math.ceil(options.memWatchers / STREAMS_PER_CONNECTION));
    const watch = encodeCall("grpc-h2c", ReleaseService.method.watchToolset, request, main.auth.headers);
    let firsts = 0;
    let failure: string | undefined;
    const streams = Array.from({ length: options.memWatchers }, () => {
      let first = true;
      const stream = sessions.open(watch, () => {
        if (first) firsts++;
        first = false;
      });
      void stream.done.then(({ grpcStatus, message }) => {
        if (!stopping) failure ??= grpcStatus === "12" ? "WatchToolset not implemented" : `a stream ended: grpc-status ${grpcStatus} ${message}`;
      });
      return stream;
    });
    const deadline = Date.now() + 60_000;
    while (firsts < options.memWatchers && failure === undefined && Date.now() < deadline) await settle(20);
    if (failure !== undefined || firsts < options.memWatchers) {
      add({
        bench: "Memory",
        case: `RSS with ${n0(options.memWatchers)} open WatchToolset streams`,
        figure: `n/a: ${failure ?? `${firsts} first messages in 60 s`}`,
      });
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
    stopping = true;
    for (const st of streams) st.close();
    await Promise.all(streams.map((st) => st.done));
    sessions.close();
  } finally {
    stopping = true;
    await server.stop();
  }
}
