import pg from "pg";
import type { Logger } from "../platform/logging.js";
import { CHANGE_CHANNEL, parseChange, type Change } from "./change.js";

/** Options of a ChangeListener. */
export interface ListenerOptions {
  /** Where to LISTEN: a direct connection (a transaction-pooling proxy such as PgBouncer's would lose it). */
  connectionString: string;
  logger: Logger;
  /** Each change, in commit order. */
  onChange(change: Change): void;
  /**
   * The feed came up (LISTEN is in place) or went down. `true` may also come
   * while up, after a notice that was not understood: treat everything as changed.
   */
  onState(up: boolean): void;
  /** First and longest wait between reconnect attempts. Default 100 ms and 5 s. */
  backoffMs?: { min: number; max: number };
  /** How often an idle connection is checked with `SELECT 1`, which must answer within the same time. Default 10 s. */
  pingMs?: number;
}

/** Counters of the listener, for /metrics (the operations issue exposes them). */
export interface ListenerStats {
  up: boolean;
  notices: number;
  /** Notices whose payload was not understood (dropped, logged). */
  malformed: number;
  /** Times the feed came back after having been up. */
  reconnects: number;
  /** Failed connection attempts. */
  connectFailures: number;
  /** From the writing transaction's start to delivery here, of the last notice and the largest one, in ms. */
  lastLagMs: number;
  maxLagMs: number;
}

/**
 * Holds one dedicated connection (not from the pool) that LISTENs on the
 * change channel, and keeps it: on an error, an end or a ping that does not
 * answer it reports the feed down and reconnects with jittered exponential
 * backoff; once LISTEN is in place again it reports the feed up.
 */
export class ChangeListener {
  readonly stats: ListenerStats = { up: false, notices: 0, malformed: 0, reconnects: 0, connectFailures: 0, lastLagMs: 0, maxLagMs: 0 };
  private stopped = false;
  private endSession: (() => void) | undefined;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private everUp = false;
  private readonly upWaiters = new Set<() => void>();

  constructor(private readonly options: ListenerOptions) {}

  /** Starts connecting in the background. */
  start(): void {
    this.loop ??= this.run();
  }

  /** Resolves once the feed is up (at once if it is). */
  async untilUp(): Promise<void> {
    if (this.stats.up) return;
    await new Promise<void>((resolve) => this.upWaiters.add(resolve));
  }

  /** Closes the connection and stops reconnecting. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    this.endSession?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    const backoff = this.options.backoffMs ?? { min: 100, max: 5_000 };
    let failures = 0;
    while (!this.stopped) {
      const wasUp = await this.session();
      if (this.stopped) break;
      failures = wasUp ? 0 : failures + 1;
      const delay = Math.min(backoff.max, backoff.min * 2 ** Math.max(0, failures - 1)) * (0.5 + Math.random() / 2);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** One connection, from connect to its loss; true when it got as far as LISTEN. */
  private async session(): Promise<boolean> {
    const pingMs = this.options.pingMs ?? 10_000;
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      application_name: "toolset-release-service:listen",
      connectionTimeoutMillis: 5_000,
      query_timeout: pingMs,
      // Probes from 10 s of silence on (as the pool's), not the system's 2 h: a vanished peer is noticed between pings too.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    let lost!: () => void;
    const closed = new Promise<void>((resolve) => (lost = resolve));
    this.endSession = lost;
    client.on("error", (err) => {
      if (!this.stopped) this.options.logger.warn("change feed connection failed", { cause: err });
      lost();
    });
    client.on("end", lost);
    client.on("notification", (msg) => {
      if (msg.channel !== CHANGE_CHANNEL) return;
      const change = parseChange(msg.payload ?? "");
      if (!change) {
        this.stats.malformed++;
        this.options.logger.warn("change notice not understood; dropping everything held", { payload: msg.payload });
        this.options.onState(true);
        return;
      }
      this.stats.notices++;
      const lag = Math.max(0, Date.now() - change.at);
      this.stats.lastLagMs = lag;
      this.stats.maxLagMs = Math.max(this.stats.maxLagMs, lag);
      this.options.onChange(change);
    });
    let up = false;
    let ping: NodeJS.Timeout | undefined;
    try {
      const listen = client.connect().then(() => client.query(`LISTEN ${CHANGE_CHANNEL}`));
      // Promise.race subscribes to both, so the loser's rejection is not unhandled.
      if (!(await Promise.race([listen.then(() => true), closed.then(() => false)]))) throw new Error("connection lost before LISTEN");
      if (this.stopped) return false;
      up = true;
      if (this.everUp) this.stats.reconnects++;
      this.everUp = true;
      this.setUp(true);
      ping = setInterval(() => {
        client.query("SELECT 1").catch((err: unknown) => {
          this.options.logger.warn("change feed connection did not answer its ping", { cause: err });
          lost();
        });
      }, pingMs);
      await closed;
    } catch (err) {
      if (!this.stopped) {
        this.stats.connectFailures++;
        this.options.logger.warn("change feed could not connect; reads go to the database until it does", { cause: err });
      }
    } finally {
      clearInterval(ping);
      if (up) this.setUp(false);
      // end() on a broken connection may never settle: do not wait for it.
      client.end().catch(() => undefined);
      this.endSession = undefined;
    }
    return up;
  }

  private setUp(up: boolean): void {
    this.stats.up = up;
    if (!up && !this.stopped) this.options.logger.warn("change feed down; reads go to the database until it is back");
    if (up && this.stats.reconnects > 0) this.options.logger.info("change feed back; everything held was dropped");
    this.options.onState(up);
    if (up) {
      for (const resolve of this.upWaiters) resolve();
      this.upWaiters.clear();
    }
  }
}
