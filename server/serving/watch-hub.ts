import type { Logger } from "../platform/logging.js";
import { sharedWork } from "../platform/shared-work.js";
import type { Change } from "./change.js";
import type { Tags } from "./served-state.js";

/** What a watcher receives: the topic's value after a refresh, or the error that ends its watch. */
export type WatchEvent<V> = { value: V } | { error: unknown };

/** How a topic is (re)loaded: the value and what it depends on. */
export type TopicLoad<V> = () => Promise<{ value: V; tags: Tags }>;

/** One watcher's stake in a topic. */
export interface WatchSubscription<V> {
  /** The next event; undefined once `signal` aborts. A value that has not changed since the last one is still delivered: compare. */
  next(signal: AbortSignal, timeoutMs: number): Promise<WatchEvent<V> | "timeout" | undefined>;
  close(): void;
}

/** Who is watching, for the checks that do not depend on the topic (a revoked key). */
export interface WatcherAuth {
  tags: Tags;
  /** Throws when the watcher may no longer watch (its error ends the watch). */
  check(): Promise<void>;
}

/** Counters for /metrics. */
export interface WatchHubStats {
  topics: number;
  watchers: number;
  refreshes: number;
}

/** Options of a WatchHub. */
export interface WatchHubOptions {
  logger: Logger;
  /** While the change feed is down, every topic is reloaded this often; also the retry delay after a failed reload. */
  pollMs: number;
  /** Whether an error ends a topic for all its watchers (say NOT_FOUND) rather than being retried. */
  isFinal(error: unknown): boolean;
}

interface Subscriber<V> {
  events: WatchEvent<V>[];
  wake: (() => void) | undefined;
  auth: WatcherAuth;
  closed: boolean;
}

interface Topic<V> {
  key: string;
  load: TopicLoad<V>;
  tags: Tags | undefined;
  current: V | undefined;
  subscribers: Set<Subscriber<V>>;
  running: boolean;
  dirty: boolean;
  retry: NodeJS.Timeout | undefined;
}

function touches(change: Change, tags: Tags): boolean {
  switch (change.scope) {
    case "organization":
    case "project":
      return tags.organizationId === change.organizationId;
    case "key":
      return tags.keyId === change.keyId;
    case "sources":
      return tags.projectId === change.projectId;
    case "toolset":
      return tags.toolsetId === change.toolsetId;
  }
}

/**
 * Watchers of one thing share a topic, and a topic reloads once per change
 * that touches it, however many watchers it has: N watchers of a toolset cost
 * one resolve per change, not N. Each watcher gets every reloaded value and
 * decides itself whether it changed (its etag); a change that touches a
 * watcher's organization or key re-checks that watcher (a revoked key ends it).
 */
export class WatchHub<V> {
  private readonly topics = new Map<string, Topic<V>>();
  private poll: NodeJS.Timeout | undefined;
  readonly stats: WatchHubStats = { topics: 0, watchers: 0, refreshes: 0 };
  private closing = false;

  /** Whether close() has ended every watch (the process is shutting down). */
  get closed(): boolean {
    return this.closing;
  }

  constructor(private readonly options: WatchHubOptions) {}

  /** Joins (or opens) the topic `key`; the first event is its current value. */
  subscribe(key: string, load: TopicLoad<V>, auth: WatcherAuth): WatchSubscription<V> {
    let topic = this.topics.get(key);
    if (!topic) {
      topic = { key, load, tags: undefined, current: undefined, subscribers: new Set(), running: false, dirty: false, retry: undefined };
      this.topics.set(key, topic);
      this.stats.topics = this.topics.size;
    }
    const sub: Subscriber<V> = { events: [], wake: undefined, auth, closed: false };
    topic.subscribers.add(sub);
    this.stats.watchers++;
    // A load under way delivers to every subscriber, this one included.
    if (!topic.running) {
      if (topic.current !== undefined) this.push(sub, { value: topic.current });
      else this.refresh(topic);
    }
    const owner = topic;
    return {
      next: (signal, timeoutMs) => this.nextEvent(sub, signal, timeoutMs),
      close: () => this.leave(owner, sub),
    };
  }

  /** A change arrived: reload the topics it touches, re-check the watchers it concerns. */
  apply(change: Change): void {
    for (const topic of this.topics.values()) {
      if (topic.tags === undefined || touches(change, topic.tags)) this.refresh(topic);
      for (const sub of topic.subscribers) if (touches(change, sub.auth.tags)) this.recheck(topic, sub);
    }
  }

  /** The feed came up or went down. Both times anything may have changed; while down, topics are polled. */
  setFeedUp(up: boolean): void {
    clearInterval(this.poll);
    this.poll = undefined;
    if (!up) {
      this.poll = setInterval(() => this.refreshAll(), this.options.pollMs);
      this.poll.unref();
    }
    this.refreshAll();
  }

  /** Ends every watch (shutdown). */
  close(): void {
    this.closing = true;
    clearInterval(this.poll);
    for (const topic of this.topics.values()) {
      clearTimeout(topic.retry);
      for (const sub of topic.subscribers) {
        sub.closed = true;
        sub.wake?.();
      }
    }
    this.topics.clear();
    this.stats.topics = 0;
  }

  private refreshAll(): void {
    for (const topic of this.topics.values()) {
      this.refresh(topic);
      for (const sub of topic.subscribers) this.recheck(topic, sub);
    }
  }

  private refresh(topic: Topic<V>): void {
    if (topic.running) {
      topic.dirty = true;
      return;
    }
    topic.running = true;
    topic.dirty = false;
    clearTimeout(topic.retry);
    topic.retry = undefined;
    this.stats.refreshes++;
    // The load serves every watcher of the topic, not the request that happened to open or wake it.
    sharedWork(() => topic.load())
      .then(({ value, tags }) => {
        topic.current = value;
        topic.tags = tags;
        if (!topic.dirty) for (const sub of topic.subscribers) this.push(sub, { value });
      })
      .catch((error: unknown) => {
        if (this.options.isFinal(error)) {
          for (const sub of topic.subscribers) this.push(sub, { error });
          this.drop(topic);
          return;
        }
        if (this.topics.get(topic.key) !== topic) return; // nobody watches it any more
        this.options.logger.warn("watch reload failed; retrying", { topic: topic.key, cause: error });
        topic.retry = setTimeout(() => this.refresh(topic), this.options.pollMs);
        topic.retry.unref();
      })
      .finally(() => {
        topic.running = false;
        if (topic.dirty && this.topics.get(topic.key) === topic) this.refresh(topic);
      });
  }

  private recheck(topic: Topic<V>, sub: Subscriber<V>): void {
    sub.auth.check().catch((error: unknown) => {
      if (!this.options.isFinal(error)) return;
      this.push(sub, { error });
      this.leave(topic, sub);
    });
  }

  private push(sub: Subscriber<V>, event: WatchEvent<V>): void {
    if (sub.closed) return;
    // A watcher only needs the newest value: replace a value not yet taken.
    const last = sub.events.at(-1);
    if (last && "value" in last && "value" in event) sub.events[sub.events.length - 1] = event;
    else sub.events.push(event);
    sub.wake?.();
  }

  private async nextEvent(sub: Subscriber<V>, signal: AbortSignal, timeoutMs: number): Promise<WatchEvent<V> | "timeout" | undefined> {
    for (;;) {
      if (signal.aborted) return undefined;
      const event = sub.events.shift();
      if (event) return event;
      if (sub.closed) return undefined;
      const woke = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => done(false), timeoutMs);
        const onAbort = () => done(true);
        const done = (w: boolean) => {
          clearTimeout(timer);
          signal.removeEventListener("abort", onAbort);
          sub.wake = undefined;
          resolve(w);
        };
        signal.addEventListener("abort", onAbort);
        sub.wake = () => done(true);
      });
      if (!woke) return "timeout";
    }
  }

  private leave(topic: Topic<V>, sub: Subscriber<V>): void {
    if (!topic.subscribers.delete(sub)) return;
    this.stats.watchers--;
    if (topic.subscribers.size === 0) this.drop(topic);
  }

  private drop(topic: Topic<V>): void {
    clearTimeout(topic.retry);
    if (this.topics.get(topic.key) === topic) this.topics.delete(topic.key);
    this.stats.topics = this.topics.size;
  }
}
