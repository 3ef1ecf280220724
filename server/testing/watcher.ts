import { ConnectError, type Code } from "@connectrpc/connect";
import { afterEach, expect } from "vitest";
import type { WatchToolsetResponse } from "../../gen/releases/v1/releases_pb.js";

/** How long a wait for a message or an end lasts by default before it fails. */
export const WATCH_WAIT_MS = 5_000;
/** How long `quiet()` watches by default for "no message came". */
export const WATCH_QUIET_MS = 400;

/** How a stream ended: "ok", or its error code, with the error's message. */
export interface WatchEnd {
  code: Code | "ok";
  message: string;
}

/** Every watcher opened and not yet closed by `closeWatchersAfterEach`. */
const opened = new Set<Watcher>();

/**
 * Registers an afterEach that closes every watcher the test opened and waits
 * for each stream's end, so that nothing is left running. Call it once at the
 * top of a test file that uses `Watcher`.
 */
export function closeWatchersAfterEach(): void {
  afterEach(async () => {
    const all = [...opened];
    opened.clear();
    for (const w of all) w.close();
    await Promise.all(all.map((w) => w.ended));
  });
}

/**
 * One WatchToolset stream, read in the background from the moment it is made:
 * messages are queued as they come (keepalives apart, in `keepalives`), and
 * tests wait for them with bounded timeouts (`next`, `end`, `until`) or assert
 * that none comes (`quiet`).
 */
export class Watcher {
  /** The messages that are not keepalives, in order. */
  readonly messages: WatchToolsetResponse[] = [];
  /** The keepalive messages, in order. */
  readonly keepalives: WatchToolsetResponse[] = [];
  /** How the stream ends; never rejects. */
  readonly ended: Promise<WatchEnd>;
  private result: WatchEnd | undefined;
  private taken = 0;
  private readonly abort = new AbortController();
  private readonly wakers = new Set<() => void>();

  /** Opens the stream with `open`, passing the signal that `close()` aborts. */
  constructor(open: (signal: AbortSignal) => AsyncIterable<WatchToolsetResponse>) {
    opened.add(this);
    this.ended = this.pump(open(this.abort.signal));
  }

  private async pump(stream: AsyncIterable<WatchToolsetResponse>): Promise<WatchEnd> {
    try {
      for await (const m of stream) {
        (m.keepalive ? this.keepalives : this.messages).push(m);
        this.wakeAll();
      }
      this.result = { code: "ok", message: "" };
    } catch (e) {
      const err = ConnectError.from(e);
      this.result = { code: err.code, message: err.rawMessage };
    }
    this.wakeAll();
    return this.result;
  }

  private wakeAll(): void {
    for (const wake of this.wakers) wake();
  }

  /**
   * Waits (at most `timeoutMs`) until `ready` answers something other than
   * undefined, checking again whenever a message or the end arrives; `ready`
   * may throw to fail the wait at once.
   */
  async until<T>(what: string, ready: () => T | undefined, timeoutMs = WATCH_WAIT_MS): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const value = ready();
      if (value !== undefined) return value;
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`waited ${timeoutMs} ms for ${what}; got ${this.describe()}`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.wakers.delete(done);
          resolve();
        };
        const timer = setTimeout(done, left);
        this.wakers.add(done);
      });
    }
  }

  /** The next message that is not a keepalive (within `timeoutMs`); fails when the stream ends first. */
  async next(timeoutMs = WATCH_WAIT_MS): Promise<WatchToolsetResponse> {
    const m = await this.until(
      "the next message",
      () => this.messages[this.taken] ?? (this.result ? fail(`the stream ended before the next message: ${this.describe()}`) : undefined),
      timeoutMs,
    );
    this.taken++;
    return m;
  }

  /** How the stream ends (within `timeoutMs`); fails on a message not taken yet. */
  async end(timeoutMs = WATCH_WAIT_MS): Promise<WatchEnd> {
    const end = await this.until("the end of the stream", () => this.result, timeoutMs);
    expect(this.messages.slice(this.taken), "messages before the end").toEqual([]);
    return end;
  }

  /** Asserts that no message but keepalives comes for `ms`, and that the stream stays open. */
  async quiet(ms = WATCH_QUIET_MS): Promise<void> {
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      expect(this.messages.slice(this.taken), "messages where none was due").toEqual([]);
      expect(this.result, "the stream ended where it should stay open").toBeUndefined();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(this.messages.slice(this.taken), "messages where none was due").toEqual([]);
    expect(this.result).toBeUndefined();
  }

  /** Cancels the stream (the client aborts); `ended` then settles. */
  close(): void {
    this.abort.abort();
  }

  /** What is pending, for failure messages. */
  private describe(): string {
    const left = this.messages.slice(this.taken).map((m) => ({ etag: m.etag, notModified: m.notModified, resolved: m.resolved !== undefined }));
    return JSON.stringify({ pending: left, keepalives: this.keepalives.length, end: this.result ?? "open" });
  }
}

function fail(message: string): never {
  throw new Error(message);
}
