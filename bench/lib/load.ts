// A small closed-loop load generator: N connections, one call in flight on
// each, prebuilt request bodies, responses read but not decoded (so the bench
// process spends little CPU per call). Connect JSON over HTTP/1.1 (node:http,
// one keep-alive socket per connection) or gRPC over h2c (one node:http2
// session per connection). A call counts as an error unless it ends with HTTP
// 200 (and grpc-status 0).
import * as http from "node:http";
import * as http2 from "node:http2";
import { create, toBinary, toJsonString, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { sorted } from "../scratch.js";

export type Wire = "json-h1" | "grpc-h2c";
export const WIRE_LABEL: Record<Wire, string> = { "json-h1": "Connect JSON, HTTP/1.1", "grpc-h2c": "gRPC, h2c" };

/** One unary request, encoded once for the wire. */
export interface Call {
  path: string;
  body: Buffer;
  headers: Record<string, string>;
}

/** Encodes a unary request of `method` for `wire`. */
export function encodeCall<I extends DescMessage>(
  wire: Wire,
  method: { parent: { typeName: string }; name: string; input: I },
  request: MessageInitShape<I>,
  headers: Record<string, string> = {},
): Call {
  const path = `/${method.parent.typeName}/${method.name}`;
  const message = create(method.input, request);
  if (wire === "json-h1") {
    const body = Buffer.from(toJsonString(method.input, message));
    return { path, body, headers: { ...headers, "content-type": "application/json", "connect-protocol-version": "1" } };
  }
  const bytes = toBinary(method.input, message);
  const body = Buffer.alloc(5 + bytes.length);
  body.writeUInt32BE(bytes.length, 1);
  body.set(bytes, 5);
  return { path, body, headers: { ...headers, "content-type": "application/grpc", te: "trailers" } };
}

/** What one measured run gave. */
export interface LoadResult {
  calls: number;
  errors: number;
  seconds: number;
  /** Latencies of the successful calls, ms, ascending. */
  latencies: Float64Array;
  /** Response body bytes of all successful calls. */
  bytes: number;
  /** The first failure, for the report. */
  firstError?: string;
}

/** How one call ended; `at` is performance.now() when its last byte arrived. */
export interface Sent {
  ok: boolean;
  bytes: number;
  at: number;
  error?: string;
  /** The response body, when asked for. */
  body?: Buffer;
}

/** One connection, one call at a time. */
export interface Connection {
  send(call: Call, keepBody?: boolean): Promise<Sent>;
  close(): void;
}

// The servers close a keep-alive connection idle for 5 s; a request sent as it
// closes fails ("socket hang up"). A connection idle longer than this opens anew.
const H1_IDLE_MS = 4_000;

function h1Connection(port: number): Connection {
  const newAgent = () => new http.Agent({ keepAlive: true, maxSockets: 1 });
  let agent = newAgent();
  let lastUsed = performance.now();
  return {
    async send(call, keepBody = false) {
      if (performance.now() - lastUsed > H1_IDLE_MS) {
        agent.destroy();
        agent = newAgent();
      }
      const sent = await new Promise<Sent>((resolve) => {
        const req = http.request(
          {
            agent,
            host: "127.0.0.1",
            port,
            method: "POST",
            path: call.path,
            headers: { ...call.headers, "content-length": String(call.body.length) },
          },
          (res) => {
            let bytes = 0;
            const chunks: Buffer[] = [];
            const keep = keepBody || res.statusCode !== 200;
            res.on("data", (c: Buffer) => {
              bytes += c.length;
              if (keep) chunks.push(c);
            });
            res.on("end", () => {
              const at = performance.now();
              const body = Buffer.concat(chunks);
              if (res.statusCode === 200) resolve(keepBody ? { ok: true, bytes, at, body } : { ok: true, bytes, at });
              else resolve({ ok: false, bytes, at, error: `HTTP ${res.statusCode}: ${body.toString().slice(0, 300)}` });
            });
            res.on("error", (e) => resolve({ ok: false, bytes, at: performance.now(), error: e.message }));
          },
        );
        req.on("error", (e) => resolve({ ok: false, bytes: 0, at: performance.now(), error: e.message }));
        req.end(call.body);
      });
      lastUsed = performance.now();
      return sent;
    },
    close: () => agent.destroy(),
  };
}

/** The gRPC status of a finished stream, from its headers (trailers-only) or trailers. */
function grpcOutcome(stream: http2.ClientHttp2Stream): { status: () => number; grpc: () => string | undefined; message: () => string } {
  let status = 0;
  let grpcStatus: string | undefined;
  let message = "";
  const read = (h: http2.IncomingHttpHeaders) => {
    if (h["grpc-status"] !== undefined) grpcStatus = String(h["grpc-status"]);
    if (h["grpc-message"] !== undefined) message = decodeURIComponent(String(h["grpc-message"]));
  };
  stream.on("response", (h) => {
    status = Number(h[":status"]);
    read(h);
  });
  stream.on("trailers", read);
  return { status: () => status, grpc: () => grpcStatus, message: () => message };
}

function h2Connection(port: number): Connection {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on("error", () => undefined);
  return {
    send: (call, keepBody = false) =>
      new Promise((resolve) => {
        const stream = session.request({ ":method": "POST", ":path": call.path, ...call.headers });
        const outcome = grpcOutcome(stream);
        let bytes = 0;
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => {
          bytes += c.length;
          if (keepBody) chunks.push(c);
        });
        stream.on("error", (e) => resolve({ ok: false, bytes, at: performance.now(), error: e.message }));
        stream.on("close", () => {
          const at = performance.now();
          if (outcome.status() === 200 && outcome.grpc() === "0")
            resolve(keepBody ? { ok: true, bytes, at, body: Buffer.concat(chunks) } : { ok: true, bytes, at });
          else resolve({ ok: false, bytes, at, error: `HTTP ${outcome.status()}, grpc-status ${outcome.grpc()}: ${outcome.message()}` });
        });
        stream.end(call.body);
      }),
    close: () => session.close(),
  };
}

/** A connection of `wire` to 127.0.0.1:`port`. */
export function connect(wire: Wire, port: number): Connection {
  return wire === "json-h1" ? h1Connection(port) : h2Connection(port);
}

/** A server-streaming gRPC call read as raw messages (not decoded). */
export interface RawStream {
  /** Resolves when the stream ends: its grpc-status ("0" = OK) and message. */
  done: Promise<{ grpcStatus: string | undefined; message: string }>;
  close(): void;
}

/**
 * h2c sessions that carry server-streaming gRPC calls; each message is handed to
 * `onMessage` undecoded, with the time its last byte arrived, so the time does
 * not include the client's decoding.
 */
export class StreamSessions {
  private readonly sessions: http2.ClientHttp2Session[];
  private opened = 0;

  constructor(
    port: number,
    private readonly streamsPerSession = 100,
    count = 1,
  ) {
    this.sessions = Array.from({ length: count }, () => {
      const s = http2.connect(`http://127.0.0.1:${port}`);
      s.on("error", () => undefined);
      return s;
    });
  }

  open(call: Call, onMessage: (message: Buffer, at: number) => void): RawStream {
    const session = this.sessions[Math.floor(this.opened++ / this.streamsPerSession) % this.sessions.length]!;
    const stream = session.request({ ":method": "POST", ":path": call.path, ...call.headers });
    const outcome = grpcOutcome(stream);
    let buffered: Buffer = Buffer.alloc(0);
    stream.on("data", (c: Buffer) => {
      const at = performance.now();
      buffered = buffered.length === 0 ? c : Buffer.concat([buffered, c]);
      while (buffered.length >= 5) {
        const length = buffered.readUInt32BE(1);
        if (buffered.length < 5 + length) break;
        onMessage(buffered.subarray(5, 5 + length), at);
        buffered = buffered.subarray(5 + length);
      }
    });
    const done = new Promise<{ grpcStatus: string | undefined; message: string }>((resolve) => {
      stream.on("error", (e) => resolve({ grpcStatus: undefined, message: e.message }));
      stream.on("close", () => resolve({ grpcStatus: outcome.grpc(), message: outcome.message() }));
    });
    stream.end(call.body);
    return { done, close: () => stream.close(http2.constants.NGHTTP2_CANCEL) };
  }

  close(): void {
    for (const s of this.sessions) s.close();
  }
}

/**
 * Drives `connections` in closed loop (one call in flight on each): connection
 * i sends `pick(i, n)` as its n-th call while `more(callsStartedSoFar)` holds.
 */
export async function closedLoop(
  connections: readonly Connection[],
  pick: (connection: number, n: number) => Call,
  more: (made: number) => boolean,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let bytes = 0;
  let made = 0;
  let firstError: string | undefined;
  const started = performance.now();
  await Promise.all(
    connections.map(async (conn, i) => {
      for (let n = 0; more(made); n++) {
        made++;
        const t0 = performance.now();
        const r = await conn.send(pick(i, n));
        if (r.ok) {
          latencies.push(performance.now() - t0);
          bytes += r.bytes;
        } else {
          errors++;
          firstError ??= r.error;
        }
      }
    }),
  );
  const result: LoadResult = {
    calls: latencies.length + errors,
    errors,
    seconds: (performance.now() - started) / 1000,
    latencies: sorted(latencies),
    bytes,
  };
  if (firstError !== undefined) result.firstError = firstError;
  return result;
}

/** N open connections to one server, driven in closed loop. */
export class LoadClient {
  private readonly connections: Connection[];

  constructor(wire: Wire, port: number, connections: number) {
    this.connections = Array.from({ length: connections }, () => connect(wire, port));
  }

  /**
   * Every connection sends `calls` in turn (round robin, each connection starting
   * at its own offset) until `seconds` have passed or `maxCalls` were made.
   */
  async run(calls: readonly Call[], seconds: number, maxCalls = Infinity): Promise<LoadResult> {
    const deadline = performance.now() + seconds * 1000;
    return closedLoop(
      this.connections,
      (i, n) => calls[(i + n) % calls.length]!,
      (made) => performance.now() < deadline && made < maxCalls,
    );
  }

  close(): void {
    for (const c of this.connections) c.close();
  }
}

/** Several runs as one: calls and time added, latencies pooled. */
export function merge(results: readonly LoadResult[]): LoadResult {
  const out: LoadResult = {
    calls: results.reduce((s, r) => s + r.calls, 0),
    errors: results.reduce((s, r) => s + r.errors, 0),
    seconds: results.reduce((s, r) => s + r.seconds, 0),
    latencies: sorted(results.flatMap((r) => Array.from(r.latencies))),
    bytes: results.reduce((s, r) => s + r.bytes, 0),
  };
  const firstError = results.find((r) => r.firstError !== undefined)?.firstError;
  if (firstError !== undefined) out.firstError = firstError;
  return out;
}

/** Successful calls per second. */
export function rate(r: LoadResult): number {
  return r.latencies.length / r.seconds;
}

/**
 * WatchToolsetResponse.etag (field 3) of an encoded message, skipping the
 * resolved toolset unread: decoding 200 tools' Struct schemas would hold the
 * bench's event loop for milliseconds and delay the poller's timestamps.
 */
export function etagField(bytes: Uint8Array): string {
  const reader = new BinaryReader(bytes);
  let etag = "";
  while (reader.pos < reader.len) {
    const [no, wireType] = reader.tag();
    if (no === 3) etag = reader.string();
    else reader.skip(wireType);
  }
  return etag;
}
