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

/** How the server bounds its connections; every field has a default. */
export interface DualServerOptions {
  /** A new connection must send its first bytes (a request line or the HTTP/2 preface) within this. */
  detectTimeoutMs?: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS advertised on every HTTP/2 connection. */
  http2MaxConcurrentStreams?: number;
  /** An HTTP/2 connection with no open stream for this long is closed (GOAWAY, then the socket). */
  idleConnectionTimeoutMs?: number;
  /** HTTP/1.1: the request line and headers must arrive within this (slowloris), else 408 and close. */
  headersTimeoutMs?: number;
  /** HTTP/1.1: the whole request, body included, must arrive within this; the response may stream for as long as it likes. */
  requestTimeoutMs?: number;
  /** HTTP/1.1: how often connections are checked against those two timeouts (so they may be overrun by up to this). */
  timeoutCheckIntervalMs?: number;
}

// Every HTTP/2 prior-knowledge connection opens with this preface (RFC 9113 §3.4);
// no HTTP/1.x request line can start with "PRI ".
const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const DEFAULTS: Required<DualServerOptions> = {
  detectTimeoutMs: 10_000,
  http2MaxConcurrentStreams: 2_000,
  idleConnectionTimeoutMs: 120_000,
  headersTimeoutMs: 10_000,
  // A 4 MiB body (MAX_REQUEST_BYTES' default) at 70 KB/s.
  requestTimeoutMs: 60_000,
  timeoutCheckIntervalMs: 1_000,
};
// After the GOAWAY of an idle connection, how long the client has to read it before the socket is destroyed.
const IDLE_CLOSE_GRACE_MS = 1_000;

/**
 * Node's plaintext http2 server does not fall back to HTTP/1.1, so one net server
 * reads the first bytes of each connection and hands the socket to the HTTP/2
 * server when they are the HTTP/2 preface, else to the HTTP/1.1 server.
 */
export function createDualServer(handler: RequestHandler, options: DualServerOptions = {}): DualServer {
  const opts: Required<DualServerOptions> = { ...DEFAULTS, ...options };
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

  // requestTimeout ends only a request still arriving: Node stops timing it once
  // the body is complete, so a response streamed over HTTP/1.1 (a Connect
  // WatchToolset) lasts as long as the client stays.
  const h1 = http.createServer(
    {
      keepAliveTimeout: 5_000,
      headersTimeout: opts.headersTimeoutMs,
      requestTimeout: opts.requestTimeoutMs,
      connectionsCheckingInterval: opts.timeoutCheckIntervalMs,
    },
    counted,
  );
  // A client opening more streams than advertised: Node's own client (and so
  // connect-node's) queues them; one that ignores the setting loses the whole
  // connection (nghttp2: GOAWAY PROTOCOL_ERROR), or has the excess refused
  // (REFUSED_STREAM) before it acknowledged the setting.
  const h2 = http2.createServer({ settings: { maxConcurrentStreams: opts.http2MaxConcurrentStreams } }, counted);
  h2.on("session", (session) => {
    sessions.add(session);
    const stopIdleTimer = closeWhenIdle(session, opts.idleConnectionTimeoutMs);
    session.once("close", () => {
      stopIdleTimer();
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
    socket.setTimeout(opts.detectTimeoutMs, () => socket.destroy());
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
          // The HTTP/1.1 server never listens itself (connections are handed to it),
          // but only its "listening" starts what enforces headersTimeout and
          // requestTimeout and tracks the connections closeIdleConnections and
          // closeAllConnections act on.
          h1.emit("listening");
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
      h1.close(); // stops the timeout checks
      for (const s of sessions) s.destroy();
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

/**
 * Closes `session` once it has had no open stream for `idleMs`, counted from its
 * start (a client that sent the preface and nothing else) or from its last
 * stream's end. Pings and settings do not count: they cost the server a socket
 * and a session each, whatever they say. The close is a GOAWAY (NO_ERROR), so a
 * client opens a new connection for its next call; one that does not read the
 * GOAWAY loses its socket a moment later. One timer per session, re-armed only
 * when it fires, so busy connections cost no timer per stream. Returns a
 * function that stops the timer.
 */
function closeWhenIdle(session: http2.ServerHttp2Session, idleMs: number): () => void {
  let open = 0;
  let idleSince = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const check = () => {
    const idleFor = performance.now() - idleSince;
    if (open > 0 || idleFor < idleMs) {
      timer = setTimeout(check, open > 0 ? idleMs : idleMs - idleFor).unref();
      return;
    }
    timer = undefined;
    session.close();
    setTimeout(() => session.destroy(), IDLE_CLOSE_GRACE_MS).unref();
  };
  timer = setTimeout(check, idleMs).unref();
  session.on("stream", (stream: http2.ServerHttp2Stream) => {
    open++;
    stream.once("close", () => {
      if (--open === 0) idleSince = performance.now();
    });
  });
  return () => clearTimeout(timer);
}
