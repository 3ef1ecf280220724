import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { Health, HealthCheckResponse_ServingStatus, type HealthCheckResponse } from "../gen/grpc/health/v1/health_pb.js";
import { ERROR_REASONS } from "../server/platform/errors.js";
import { createDualServer, type DualServer } from "../server/platform/server.js";
import { httpTool, uniqueSlug } from "../server/testing/fixtures.js";
import { PROTOCOLS, startTestServer, type Protocol } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";
import { closeWatchersAfterEach, Watcher } from "../server/testing/watcher.js";

// Long-lived connections are bounded (issue 11.8, 11.9): SETTINGS_MAX_CONCURRENT_STREAMS,
// idle HTTP/2 connections closed, HTTP/1.1 slow requests timed out (but not slow
// responses), open streams capped per client address and health watches in all.

const IDLE_MS = 400;
const LIMITS = { idleConnectionTimeoutMs: IDLE_MS, maxStreamsPerClient: 2, maxHealthWatches: 4, trustedProxyHops: 1 };
const { server, api, database } = useTestServer({ tenants: 1, server: LIMITS });

const slug = uniqueSlug("ts");
beforeAll(async () => {
  await api.deploy([httpTool("a")]);
  await api.createToolset(slug, ["a"]);
});
closeWatchersAfterEach();

// Whatever a test opens by hand is closed after it.
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** An HTTP/2 session to the test server, destroyed after the test; resolves once the server's settings arrived. */
async function h2Session(baseUrl = server.baseUrl): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(baseUrl);
  session.on("error", () => undefined);
  cleanups.push(() => session.destroy());
  await new Promise((resolve) => session.once("remoteSettings", resolve));
  return session;
}

/** A gRPC message frame of an empty request. */
const EMPTY_FRAME = Buffer.alloc(5);

/** Opens a raw gRPC health Watch on `session`; resolves with the stream once its first message arrived. */
async function rawHealthWatch(session: http2.ClientHttp2Session): Promise<http2.ClientHttp2Stream> {
  const stream = session.request({ ":method": "POST", ":path": "/grpc.health.v1.Health/Watch", "content-type": "application/grpc", te: "trailers" });
  stream.on("error", () => undefined);
  stream.end(EMPTY_FRAME);
  await new Promise((resolve, reject) => {
    stream.once("data", resolve);
    stream.once("close", () => reject(new Error("the health Watch closed before its first message")));
  });
  return stream;
}

/** How a session ended: the GOAWAY code it got, if any, once it closed. */
function sessionEnd(session: http2.ClientHttp2Session): Promise<{ goaway: number | undefined }> {
  let goaway: number | undefined;
  session.on("goaway", (code) => (goaway = code));
  return new Promise((resolve) => session.once("close", () => resolve({ goaway })));
}

/** A health Watch over `protocol` as the client at `address`, read in the background. */
function healthWatch(address: string, protocol: Protocol = "grpc") {
  const abort = new AbortController();
  const messages: HealthCheckResponse[] = [];
  const ended = (async () => {
    try {
      for await (const m of server.client(Health, protocol).watch({}, { signal: abort.signal, headers: { "x-forwarded-for": address } }))
        messages.push(m);
      return "ok" as const;
    } catch (e) {
      return ConnectError.from(e);
    }
  })();
  const close = async () => {
    abort.abort();
    await ended;
  };
  cleanups.push(() => abort.abort());
  return { messages, ended, close };
}

/** The code, reason and resource of a refused stream. */
function refusal(end: "ok" | ConnectError) {
  if (end === "ok") throw new Error("expected a refusal, the stream ended OK");
  const [info] = end.findDetails(ErrorInfoSchema);
  const [retry] = end.findDetails(RetryInfoSchema);
  return { code: end.code, reason: info?.reason, resource: info?.metadata["resource"], retryDelay: retry?.retryDelay !== undefined };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("HTTP/2 connections", () => {
  it("advertise SETTINGS_MAX_CONCURRENT_STREAMS; Node's client queues what goes beyond", async () => {
    // A server of its own: the caps on streams of the shared one would refuse these first.
    const roomy = await startTestServer(database.url, { http2MaxConcurrentStreams: 7 });
    cleanups.push(() => void roomy.close());
    const session = await h2Session(roomy.baseUrl);
    expect(session.remoteSettings.maxConcurrentStreams).toBe(7);
    // 7 streams held open, and an 8th that the client holds back until one of them ends.
    const held = await Promise.all(Array.from({ length: 7 }, () => rawHealthWatch(session)));
    cleanups.push(() => held.forEach((s) => s.close()));
    let eighth = false;
    const queued = rawHealthWatch(session).then((s) => {
      eighth = true;
      return s;
    });
    await sleep(200);
    expect(eighth).toBe(false);
    held[0]!.close();
    const s = await queued;
    s.close();
  });

  it("close a connection with no open stream after the idle timeout (GOAWAY NO_ERROR)", async () => {
    const session = await h2Session();
    const ended = sessionEnd(session);
    const opened = performance.now();
    const check = session.request({ ":method": "POST", ":path": "/grpc.health.v1.Health/Check", "content-type": "application/grpc", te: "trailers" });
    check.on("data", () => undefined);
    check.end(EMPTY_FRAME);
    await new Promise((resolve) => check.once("close", resolve));
    expect(await ended).toEqual({ goaway: http2.constants.NGHTTP2_NO_ERROR });
    expect(performance.now() - opened).toBeGreaterThanOrEqual(IDLE_MS);
  });

  it("keep a connection open while a stream is open, however long, and close it once idle after", async () => {
    const session = await h2Session();
    const ended = sessionEnd(session);
    let closed = false;
    void ended.then(() => (closed = true));
    const watch = await rawHealthWatch(session);
    await sleep(IDLE_MS * 3);
    expect(closed).toBe(false);
    watch.close();
    expect(await ended).toEqual({ goaway: http2.constants.NGHTTP2_NO_ERROR });
  });

  it("close a connection that sent only the preface", async () => {
    const socket = net.connect(server.port, "127.0.0.1");
    cleanups.push(() => socket.destroy());
    const frames: number[] = [];
    let bytes = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk]);
      while (bytes.length >= 9 && bytes.length >= 9 + bytes.readUIntBE(0, 3)) {
        frames.push(bytes[3]!);
        bytes = bytes.subarray(9 + bytes.readUIntBE(0, 3));
      }
    });
    socket.on("error", () => undefined);
    const closed = new Promise((resolve) => socket.once("close", resolve));
    socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    await closed;
    const SETTINGS = 0x4;
    const GOAWAY = 0x7;
    expect(frames).toContain(SETTINGS);
    expect(frames).toContain(GOAWAY);
  });
});

describe("HTTP/1.1 connections", () => {
  const TIMEOUTS = { headersTimeoutMs: 300, requestTimeoutMs: 600, timeoutCheckIntervalMs: 50 };
  let dual: DualServer | undefined;
  let port = 0;
  afterEach(async () => {
    await dual?.shutdown(0);
    dual = undefined;
  });

  /** A dual server whose handler streams `chunks` chunks, one every `everyMs`, after reading the request body. */
  async function streaming(chunks: number, everyMs: number): Promise<void> {
    dual = createDualServer((req, response) => {
      const res = response as http.ServerResponse; // HTTP/1.1 is all these tests speak
      req.on("data", () => undefined);
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/plain" });
        let sent = 0;
        const timer = setInterval(() => {
          res.write(`${sent++}\n`);
          if (sent === chunks) {
            clearInterval(timer);
            res.end();
          }
        }, everyMs);
        res.once("close", () => clearInterval(timer));
      });
    }, TIMEOUTS);
    port = (await dual.listen(0, "127.0.0.1")).port;
  }

  /** Writes `text` on a raw socket, then waits until the server closes it; returns what it answered. */
  async function raw(parts: string[], gapMs: number): Promise<string> {
    const socket = net.connect(port, "127.0.0.1");
    cleanups.push(() => socket.destroy());
    let answer = "";
    socket.on("data", (c: Buffer) => (answer += c.toString()));
    socket.on("error", () => undefined);
    const closed = new Promise((resolve) => socket.once("close", resolve));
    for (const part of parts) {
      if (socket.destroyed) break;
      socket.write(part);
      await sleep(gapMs);
    }
    await closed;
    return answer;
  }

  it("answer 408 and close when the headers do not arrive in time (slowloris)", async () => {
    await streaming(1, 10);
    const started = performance.now();
    // A header line every 100 ms, never the blank line that ends them.
    const answer = await raw(["POST / HTTP/1.1\r\n", ...Array.from({ length: 50 }, (_, i) => `x-${i}: y\r\n`)], 100);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(performance.now() - started).toBeLessThan(3_000);
  });

  it("answer 408 when the body does not arrive in time", async () => {
    await streaming(1, 10);
    const answer = await raw(["POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n", ...Array.from({ length: 50 }, () => "x")], 100);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("let a response stream far longer than the request timeout", async () => {
    const CHUNKS = 20;
    await streaming(CHUNKS, 100); // 2 s, over three times requestTimeoutMs
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request({ port, host: "127.0.0.1", method: "POST", path: "/" }, (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve(text));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end("{}");
    });
    expect(body.trim().split("\n")).toHaveLength(CHUNKS);
  });
});

describe("stream caps", () => {
  it("refuse a client's streams past MAX_STREAMS_PER_CLIENT at once, RESOURCE_EXHAUSTED / OVERLOADED, on every protocol", async () => {
    for (const protocol of PROTOCOLS) {
      const address = `10.9.${PROTOCOLS.indexOf(protocol)}.1`;
      const held = [healthWatch(address, protocol), healthWatch(address, protocol)];
      await expect.poll(() => held.every((w) => w.messages.length > 0)).toBe(true);
      const third = healthWatch(address, protocol);
      expect(refusal(await third.ended), protocol).toEqual({
        code: Code.ResourceExhausted,
        reason: ERROR_REASONS.OVERLOADED,
        resource: "streams",
        retryDelay: true,
      });
      // WatchToolset counts too; another address does not share the count.
      const watch = new Watcher((signal) =>
        api
          .releases()
          .watchToolset({ project: api.project, slug }, { ...api.auth(), signal, headers: { ...api.auth().headers, "x-forwarded-for": address } }),
      );
      expect((await watch.end()).code).toBe(Code.ResourceExhausted);
      const elsewhere = new Watcher((signal) =>
        api
          .releases()
          .watchToolset({ project: api.project, slug }, { ...api.auth(), signal, headers: { ...api.auth().headers, "x-forwarded-for": "10.9.9.9" } }),
      );
      await elsewhere.next();
      elsewhere.close();
      // A stream that ends gives its place back.
      await held[0]!.close();
      await expect
        .poll(async () => {
          const again = healthWatch(address, protocol);
          await expect.poll(() => again.messages.length > 0 || undefined).toBeDefined();
          const open = again.messages.length > 0;
          await again.close();
          return open;
        })
        .toBe(true);
      await held[1]!.close();
    }
  });

  it("refuse health Watch streams past MAX_HEALTH_WATCHES in all, and admit one again once another ended", async () => {
    const watches = Array.from({ length: LIMITS.maxHealthWatches }, (_, i) => healthWatch(`10.8.0.${i}`));
    await expect.poll(() => watches.every((w) => w.messages[0]?.status === HealthCheckResponse_ServingStatus.SERVING)).toBe(true);
    expect(refusal(await healthWatch("10.8.1.1").ended)).toMatchObject({ code: Code.ResourceExhausted, resource: "streams" });
    // Check is no stream: always answered.
    expect((await server.client(Health).check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    await watches[0]!.close();
    const next = healthWatch("10.8.1.1");
    await expect.poll(() => next.messages.length).toBe(1);
    await Promise.all([...watches, next].map((w) => w.close()));
  });

  it("emit no MaxListenersExceededWarning with hundreds of streams opening and ending", async () => {
    // A server of its own, with room for them all.
    const roomy = await startTestServer(database.url, { maxStreamsPerClient: 1_000, maxHealthWatches: 1_000 });
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on("warning", onWarning);
    try {
      // Raw streams (a generated client sharing one signal would warn on the client's side): 100 on each connection.
      const sessions = await Promise.all(Array.from({ length: 3 }, () => h2Session(roomy.baseUrl)));
      for (let round = 0; round < 2; round++) {
        const streams = await Promise.all(sessions.flatMap((s) => Array.from({ length: 100 }, () => rawHealthWatch(s))));
        expect(streams).toHaveLength(300);
        for (const s of streams) s.close();
        await sleep(50);
      }
      // And the shutdown, which ends every open stream at once.
      await Promise.all(Array.from({ length: 100 }, () => rawHealthWatch(sessions[0]!)));
    } finally {
      await roomy.close();
      process.off("warning", onWarning);
    }
    expect(warnings).toEqual([]);
  });
});
