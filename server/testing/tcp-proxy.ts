import { connect, createServer, type Server, type Socket } from "node:net";

/** A loopback TCP proxy a test can cut and restore, to play a database outage. */
export interface TcpProxy {
  port: number;
  /** Drops every connection and refuses new ones until `restore()`. */
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** Proxies 127.0.0.1:<port> to `target` (host:port); `delayMs` holds back every chunk from the target that long (a slow link). */
export async function startTcpProxy(targetHost: string, targetPort: number, opts: { delayMs?: number } = {}): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const srv = createServer((client) => {
        const upstream = connect(targetPort, targetHost);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on("close", () => sockets.delete(s));
          s.on("error", () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream);
        const delayMs = opts.delayMs ?? 0;
        if (delayMs === 0) upstream.pipe(client);
        // Timers of equal delay fire in order, so the bytes keep theirs.
        else upstream.on("data", (chunk: Buffer) => setTimeout(() => client.writable && client.write(chunk), delayMs));
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
    for (const s of sockets) s.destroy();
    if (srv) await new Promise<void>((r) => srv.close(() => r()));
  };
  await listen();
  return { port, cut: stop, restore: listen, close: stop };
}
