import { connect, createServer, type Server, type Socket } from "node:net";

/**
 * A loopback TCP proxy a test can cut, blackhole and restore, to play a
 * database outage or a faulty network path:
 *
 * - `cut()`: a hard failure. Every connection is dropped and new ones are
 *   refused (connection refused), as when the server or its host is down.
 * - `blackhole()`: a silent path. Nothing is closed and new connections are
 *   accepted, but no byte crosses in either direction: each side sees a peer
 *   that never answers, as when a firewall or a partition drops packets.
 * - `restore()`: ends either. After a blackhole the bytes held meanwhile (a
 *   close too) are delivered in order, as TCP retransmission would once the
 *   path heals.
 *
 * Typical use: point a server's database URL at `127.0.0.1:<port>`, call
 * `blackhole()`, see calls fail within the client-side timeouts, `restore()`,
 * see them succeed again, and `close()` in the test's cleanup.
 */
export interface TcpProxy {
  port: number;
  /** Drops every connection and refuses new ones until `restore()`. */
  cut(): Promise<void>;
  /** Stops forwarding in both directions without closing anything, until `restore()`. */
  blackhole(): void;
  /** Ends a cut (listens again) or a blackhole (forwards again, held bytes first). */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** One accepted connection and its upstream, forwarding until held. */
interface Link {
  hold(): void;
  release(): void;
}

/** Proxies 127.0.0.1:<port> to `target` (host:port); `delayMs` holds back every chunk from the target that long (a slow link). */
export async function startTcpProxy(targetHost: string, targetPort: number, opts: { delayMs?: number } = {}): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const links = new Set<Link>();
  let server: Server | undefined;
  let port = 0;
  let blackholed = false;
  const delayMs = opts.delayMs ?? 0;
  const link = (client: Socket, upstream: Socket): Link => {
    // Timers of equal delay fire in order, so the bytes keep theirs.
    const fromTarget = (chunk: Buffer) => setTimeout(() => client.writable && client.write(chunk), delayMs);
    // Held = paused and unpiped: the bytes (a FIN too) wait in the sockets' buffers
    // and the kernel's, in order, and backpressure reaches the sender as on a stalled path.
    return {
      hold() {
        client.unpipe(upstream);
        client.pause();
        if (delayMs === 0) upstream.unpipe(client);
        else upstream.off("data", fromTarget);
        upstream.pause();
      },
      release() {
        client.pipe(upstream);
        if (delayMs === 0) upstream.pipe(client);
        else upstream.on("data", fromTarget).resume();
      },
    };
  };
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const srv = createServer((client) => {
        const upstream = connect(targetPort, targetHost);
        const l = link(client, upstream);
        links.add(l);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on("close", () => {
            sockets.delete(s);
            if (client.destroyed && upstream.destroyed) links.delete(l);
          });
          s.on("error", () => {
            client.destroy();
            upstream.destroy();
          });
        }
        if (blackholed) l.hold();
        else l.release();
      });
      srv.once("error", reject);
      srv.listen(port, "127.0.0.1", () => {
        const addr = srv.address();
        if (addr && typeof addr === "object") port = addr.port;
        server = srv;
        resolve();
      });
    });
  const stop = async () => {
    const srv = server;
    server = undefined;
    blackholed = false;
    links.clear();
    for (const s of sockets) s.destroy();
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  };
  await listen();
  return {
    port,
    cut: stop,
    blackhole() {
      if (blackholed) return;
      blackholed = true;
      for (const l of links) l.hold();
    },
    async restore() {
      if (blackholed) {
        blackholed = false;
        for (const l of links) l.release();
      }
      if (!server) await listen();
    },
    close: stop,
  };
}
