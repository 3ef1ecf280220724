import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";

/** A request handler that both the HTTP/1.1 and the HTTP/2 server call. */
export type RequestHandler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void;

/** One listening port for HTTP/1.1 and cleartext HTTP/2 (prior knowledge), with graceful shutdown. */
export interface DualServer {
  listen(port: number, host: string): Promise<net.AddressInfo>;
  /** Requests being served right now. */
  inFlight(): number;
  /**
   * Stops accepting connections, lets in-flight requests finish and HTTP/2
   * sessions flush their last frames, then closes every connection. Whatever the
   * clients do, it resolves within `timeoutMs` (plus the moment destroying takes):
   * at the deadline every connection is destroyed. Streams are ended earlier by
   * their handlers (the router's shutdown signal), not here.
   */
  shutdown(timeoutMs: number): Promise<void>;
}

// Every HTTP/2 prior-knowledge connection opens with this preface (RFC 9113 §3.4);
// no HTTP/1.x request line can start with "PRI ".
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const DETECT_TIMEOUT_MS = 10_000;

/**
 * Node's plaintext http2 server does not fall back to HTTP/1.1, so one net server
 * reads the first bytes of each connection and hands the socket to the HTTP/2
 * server when they are the HTTP/2 preface, else to the HTTP/1.1 server.
 */
export function createDualServer(handler: RequestHandler, opts: { detectTimeoutMs?: number } = {}): DualServer {
  const detectTimeoutMs = opts.detectTimeoutMs ?? DETECT_TIMEOUT_MS;
  let active = 0;
  let draining = false;
  /** Called whenever a request ends or an HTTP/2 session closes, while draining. */
  let settled: (() => void) | undefined;
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.Http2Session>();

  const counted: RequestHandler = (req, res) => {
    active++;
    if (draining && "shouldKeepAlive" in res) res.setHeader("connection", "close");
    res.once("close", () => {
      active--;
      settled?.();
    });
    handler(req, res);
  };

  const h1 = http.createServer({ keepAliveTimeout: 5_000 }, counted);
  const h2 = http2.createServer({}, counted);
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => {
      sessions.delete(session);
      settled?.();
    });
    if (draining) session.close();
  });

  const tcp = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    // A client that connects and says nothing (or half a preface) is never handed
    // to a server whose timeouts would close it: close it here.
    socket.setTimeout(detectTimeoutMs, () => socket.destroy());
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const n = Math.min(head.length, H2_PREFACE.length);
      const isH2 = head.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (isH2 && head.length < H2_PREFACE.length) return; // wait for the whole preface
      socket.off("data", onData);
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(head);
      (isH2 ? h2 : h1).emit("connection", socket);
      if (!isH2) socket.resume();
    };
    socket.on("data", onData);
  });

  return {
    listen(port, host) {
      return new Promise((resolve, reject) => {
        tcp.once("error", reject);
        tcp.listen(port, host, () => {
          tcp.off("error", reject);
          resolve(tcp.address() as net.AddressInfo);
        });
      });
    },
    inFlight: () => active,
    async shutdown(timeoutMs) {
      draining = true;
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      // GOAWAY: no new streams; a session closes itself once its open streams are
      // done and their last frames (trailers) are sent, so destroying it later
      // cannot cut a finished stream short.
      for (const s of sessions) s.close();
      h1.closeIdleConnections();
      if (active > 0 || sessions.size > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, timeoutMs);
          settled = () => {
            if (active > 0 || sessions.size > 0) return;
            clearTimeout(timer);
            resolve();
          };
        });
      }
      settled = undefined;
      h1.closeAllConnections();
      for (const s of sessions) s.destroy();
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
