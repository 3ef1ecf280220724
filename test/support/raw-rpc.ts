import { connect as http2Connect, type ClientHttp2Session, type OutgoingHttpHeaders } from "node:http2";
import { Code } from "@connectrpc/connect";
import { codeFromString } from "@connectrpc/connect/protocol-connect";

/**
 * The wire forms of one RPC request a generated client cannot be made to send
 * (bad bytes, bad framing, bad compression), each spoken by hand over h2c:
 * Connect unary, Connect streaming (enveloped), gRPC and gRPC-Web.
 */
export type Wire = "connect" | "connect-stream" | "grpc" | "grpc-web";
export const WIRES: readonly Wire[] = ["connect", "connect-stream", "grpc", "grpc-web"];

/** How the server answered: the RPC code (from whichever place the protocol puts it) and message. */
export interface RawAnswer {
  code: Code | "ok";
  message: string;
  /** The HTTP status. */
  status: number;
}

export interface RawRequest {
  wire: Wire;
  /** `/pkg.Service/Method`. */
  path: string;
  codec?: "json" | "proto";
  /** The message bytes; enveloped here for the enveloped wires (unless `raw`). */
  message: Uint8Array | string;
  /** Flags of the envelope (1 = compressed); default 0. */
  flags?: number;
  /** Send `message` as the whole body, unframed. */
  raw?: boolean;
  headers?: Record<string, string>;
}

/** The request's content type on a wire. */
export function contentTypeOf(wire: Wire, codec: "json" | "proto"): string {
  switch (wire) {
    case "connect":
      return codec === "json" ? "application/json" : "application/proto";
    case "connect-stream":
      return `application/connect+${codec}`;
    case "grpc":
      return `application/grpc+${codec}`;
    case "grpc-web":
      return `application/grpc-web+${codec}`;
  }
}

/** A 5-byte envelope header (flags, big-endian length) and the payload. */
export function envelope(flags: number, payload: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + payload.length);
  frame[0] = flags;
  frame.writeUInt32BE(payload.length, 1);
  frame.set(payload, 5);
  return frame;
}

/** Sends one request over a fresh h2c session and reads how it ended. */
export async function rawCall(baseUrl: string, req: RawRequest): Promise<RawAnswer> {
  const session = http2Connect(baseUrl);
  session.on("error", () => undefined);
  try {
    return await rawCallOn(session, req);
  } finally {
    session.close();
  }
}

/** {@link rawCall} on an open session. */
export async function rawCallOn(session: ClientHttp2Session, req: RawRequest): Promise<RawAnswer> {
  const codec = req.codec ?? "json";
  const bytes = typeof req.message === "string" ? Buffer.from(req.message) : Buffer.from(req.message);
  const body = req.raw || req.wire === "connect" ? bytes : envelope(req.flags ?? 0, bytes);
  const headers: OutgoingHttpHeaders = {
    ":method": "POST",
    ":path": req.path,
    "content-type": contentTypeOf(req.wire, codec),
    ...(req.wire === "grpc" ? { te: "trailers" } : {}),
    ...(req.wire === "connect" ? { "connect-protocol-version": "1" } : {}),
    ...req.headers,
  };
  const { status, head, trailers, data } = await exchange(session, headers, body);
  return readAnswer(req.wire, status, head, trailers, data);
}

/** A Connect GET of a NO_SIDE_EFFECTS RPC with the given query string (no leading `?`). */
export async function rawGet(baseUrl: string, path: string, query: string, headers: Record<string, string> = {}): Promise<RawAnswer> {
  const session = http2Connect(baseUrl);
  session.on("error", () => undefined);
  try {
    const { status, head, trailers, data } = await exchange(session, { ":method": "GET", ":path": `${path}?${query}`, ...headers }, undefined);
    return readAnswer("connect", status, head, trailers, data);
  } finally {
    session.close();
  }
}

export type Head = Record<string, string | string[] | undefined>;

function exchange(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  body: Buffer | undefined,
): Promise<{ status: number; head: Head; trailers: Head; data: Buffer }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    let head: Head = {};
    let trailers: Head = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => (head = h));
    stream.on("trailers", (t) => (trailers = t));
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => resolve({ status: Number(head[":status"]), head, trailers, data: Buffer.concat(chunks) }));
    stream.on("error", reject);
    stream.end(body);
  });
}

function grpcAnswer(status: number, fields: Head): RawAnswer {
  const raw = fields["grpc-status"];
  const code = Number(raw);
  const message = decodeURIComponent(String(fields["grpc-message"] ?? ""));
  return { status, code: code === 0 ? "ok" : (code as Code), message };
}

/** How the call ended, from the response's head, trailers and body, where `wire` puts it. */
export function readAnswer(wire: Wire, status: number, head: Head, trailers: Head, data: Buffer): RawAnswer {
  switch (wire) {
    case "connect": {
      if (status === 200) return { status, code: "ok", message: "" };
      const err = JSON.parse(data.toString()) as { code: string; message?: string };
      return { status, code: codeFromString(err.code) ?? Code.Unknown, message: err.message ?? "" };
    }
    case "connect-stream": {
      for (const [flags, payload] of frames(data)) {
        if (!(flags & 0x02)) continue;
        const end = JSON.parse(payload.toString()) as { error?: { code: string; message?: string } };
        if (!end.error) return { status, code: "ok", message: "" };
        return { status, code: codeFromString(end.error.code) ?? Code.Unknown, message: end.error.message ?? "" };
      }
      throw new Error(`no end-stream message (HTTP ${status})`);
    }
    case "grpc":
      return grpcAnswer(status, head["grpc-status"] !== undefined ? head : trailers);
    case "grpc-web": {
      if (head["grpc-status"] !== undefined) return grpcAnswer(status, head);
      for (const [flags, payload] of frames(data)) {
        if (!(flags & 0x80)) continue;
        const fields: Head = {};
        for (const line of payload.toString().split("\r\n")) {
          const i = line.indexOf(":");
          if (i > 0) fields[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
        }
        return grpcAnswer(status, fields);
      }
      throw new Error(`no gRPC-Web trailer (HTTP ${status})`);
    }
  }
}

function* frames(data: Buffer): Generator<[number, Buffer]> {
  let at = 0;
  while (at + 5 <= data.length) {
    const length = data.readUInt32BE(at + 1);
    yield [data[at]!, data.subarray(at + 5, at + 5 + length)];
    at += 5 + length;
  }
}

/**
 * Starts a request whose body is never finished: the headers (with a
 * Content-Length of `declaredLength` when given) and the first `sent` bytes of
 * the body, then nothing. Resolves with the server's answer, which must come
 * without the rest of the body (within `timeoutMs`, else it rejects); the
 * stream is then closed.
 */
export async function rawPartialCall(
  baseUrl: string,
  req: Omit<RawRequest, "message" | "flags" | "raw"> & { declaredLength?: number; sent: number; timeoutMs?: number },
): Promise<RawAnswer> {
  const session = http2Connect(baseUrl);
  session.on("error", () => undefined);
  const headers: OutgoingHttpHeaders = {
    ":method": "POST",
    ":path": req.path,
    "content-type": contentTypeOf(req.wire, req.codec ?? "json"),
    ...(req.wire === "grpc" ? { te: "trailers" } : {}),
    ...(req.wire === "connect" ? { "connect-protocol-version": "1" } : {}),
    ...(req.declaredLength !== undefined ? { "content-length": String(req.declaredLength) } : {}),
    ...req.headers,
  };
  try {
    return await new Promise<RawAnswer>((resolve, reject) => {
      const stream = session.request(headers);
      let head: Head = {};
      let trailers: Head = {};
      const chunks: Buffer[] = [];
      const timer = setTimeout(
        () => reject(new Error(`no answer within ${req.timeoutMs ?? 10_000} ms while the body was still unsent`)),
        req.timeoutMs ?? 10_000,
      );
      stream.on("response", (h) => (head = h));
      stream.on("trailers", (t) => (trailers = t));
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        clearTimeout(timer);
        try {
          resolve(readAnswer(req.wire, Number(head[":status"]), head, trailers, Buffer.concat(chunks)));
        } catch (e) {
          reject(e as Error);
        }
      });
      stream.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      // An envelope header declaring the whole body, then spaces: never valid, never finished.
      const total = req.declaredLength ?? 3_000_000;
      const start = req.wire === "connect" ? Buffer.alloc(0) : envelope(0, Buffer.alloc(0));
      if (req.wire !== "connect") start.writeUInt32BE(total - 5, 1);
      stream.write(Buffer.concat([start, Buffer.alloc(Math.max(0, req.sent - start.length), 0x20)]));
    });
  } finally {
    session.destroy();
  }
}
