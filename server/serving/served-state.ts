import type { Change } from "./change.js";
import { sharedWork, untilRequestEnds } from "../platform/shared-work.js";

/**
 * What an entry depends on: a change to any of these drops it. Every entry
 * belongs to an organization; the others are set where they apply.
 */
export interface Tags {
  organizationId: string;
  projectId?: string | undefined;
  toolsetId?: string | undefined;
  keyId?: string | undefined;
}

/** What a fill produces: the value, what it depends on, and its weight in bytes (an estimate). */
export interface Filled<V> {
  value: V;
  tags: Tags;
  bytes: number;
  /** false: answer with the value but do not hold it (say, "not found": nothing would drop it when it appears). */
  keep?: boolean;
}

/** Counters of the served state, for /metrics (the operations issue exposes them). */
export interface ServedStateStats {
  hits: number;
  misses: number;
  /** Fills not stored because a change touched them while they read (the race the generation check closes). */
  discardedFills: number;
  evictions: number;
  entries: number;
  bytes: number;
}

/** Options of a ServedState. */
export interface ServedStateOptions {
  /** Bound on the summed weight of the entries, in bytes; 0 keeps nothing. */
  maxBytes: number;
  /** Test hook: runs after a fill has read and before it is stored (to drive the race deterministically). */
  beforeStore?: (key: string) => Promise<void>;
}

interface Entry {
  value: unknown;
  tags: Tags;
  bytes: number;
}

interface Flight {
  startedAt: number;
  promise: Promise<unknown>;
}

/** Past this many touched tags with fills under way, they are forgotten and those fills fail (see apply). */
const MAX_TOUCH_RECORDS = 10_000;

const TAG_KINDS = ["organizationId", "projectId", "toolsetId", "keyId"] as const;

/** The index key of one tag of an entry: `o:<id>`, `p:<id>`, `t:<id>`, `k:<id>`. */
function tagKeys(tags: Tags): string[] {
  const keys: string[] = [];
  for (const kind of TAG_KINDS) {
    const id = tags[kind];
    if (id !== undefined) keys.push(`${kind[0]}:${id}`);
  }
  return keys;
}

/** The tags a change touches: entries carrying any of them are dropped. */
function touchedBy(change: Change): string[] {
  switch (change.scope) {
    case "organization":
    case "project":
      // Rare: drop everything of the organization (callers, projects, toolsets).
      return [`o:${change.organizationId}`];
    case "key":
      return [`k:${change.keyId}`];
    case "sources":
      return [`p:${change.projectId}`];
    case "toolset":
      return [`t:${change.toolsetId}`];
  }
}

/**
 * What this process serves from memory: callers by key hash, projects by
 * (organization, slug), resolved toolsets by (project, address, target). Entries
 * carry tags (organization, project, toolset, key); a change drops every entry
 * with a tag it touches.
 *
 * The race: a fill reads the database, then stores. A change that commits after
 * the read and whose notice arrives before the store would be lost, leaving a
 * stale entry that no later notice drops. So every change advances a sequence
 * number and records it on the tags it touches; a fill remembers the sequence
 * number it started at and is not stored when any of its tags (or everything) was
 * touched since. A notice that arrives after the store simply drops the entry.
 *
 * While the change feed is down (`enabled` false) nothing is read or stored:
 * every read goes to the database. Going down and coming back both drop
 * everything, since notices may have been missed in between.
 */
export class ServedState {
  private readonly entries = new Map<string, Entry>();
  /** Entry keys by tag key. */
  private readonly byTag = new Map<string, Set<string>>();
  private readonly flights = new Map<string, Flight>();
  /** The sequence number of the last change applied; fills compare against it. */
  private seq = 0;
  /** Last sequence number that touched each tag key; pruned when no fill is in flight. */
  private readonly touchedAt = new Map<string, number>();
  /** Last sequence number that touched everything (a reset). */
  private resetAt = 0;
  private inFlight = 0;
  private total = 0;
  private on = false;
  readonly stats: ServedStateStats = { hits: 0, misses: 0, discardedFills: 0, evictions: 0, entries: 0, bytes: 0 };

  constructor(private readonly options: ServedStateOptions) {}

  /** Whether entries are served and stored: the change feed is up and the bound is not 0. */
  get enabled(): boolean {
    return this.on && this.options.maxBytes > 0;
  }

  /** The change feed is up (after LISTEN succeeded) or down: either way, everything held so far is dropped. */
  setEnabled(on: boolean): void {
    this.on = on;
    this.reset();
  }

  /** Drops everything and fails every fill under way (notices may have been missed). */
  reset(): void {
    this.seq++;
    this.resetAt = this.seq;
    this.touchedAt.clear();
    this.entries.clear();
    this.byTag.clear();
    this.flights.clear();
    this.total = 0;
    this.updateSize();
  }

  /** Applies a change: drops what it touches, and fails fills under way that depend on it. */
  apply(change: Change): void {
    this.seq++;
    // Fills are always under way on a busy process: keep the touch records
    // bounded by failing the fills under way instead (they answer, unstored).
    if (this.touchedAt.size >= MAX_TOUCH_RECORDS) {
      this.touchedAt.clear();
      this.resetAt = this.seq;
    }
    for (const tag of touchedBy(change)) {
      this.touchedAt.set(tag, this.seq);
      const keys = this.byTag.get(tag);
      if (keys) for (const key of [...keys]) this.delete(key);
    }
  }

  /** The value held for `key`, if any. */
  peek<V>(key: string): V | undefined {
    if (!this.enabled) return undefined;
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    // Re-insert: Map iteration order is insertion order, so the least recently used comes first.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value as V;
  }

  /**
   * The value for `key`: from memory, else from `fill` (stored unless a change
   * touched it meanwhile). Concurrent misses of one key share one fill, unless a
   * change arrived after that fill started (its result may predate the change).
   * A shared fill runs outside any one request; each caller waits for it until
   * its own request ends (deadline, client gone), and the fill goes on for the others.
   */
  async get<V>(key: string, fill: () => Promise<Filled<V>>): Promise<V> {
    const held = this.peek<V>(key);
    if (held !== undefined) {
      this.stats.hits++;
      return held;
    }
    this.stats.misses++;
    const flight = this.flights.get(key);
    if (flight && flight.startedAt === this.seq) return untilRequestEnds(flight.promise as Promise<V>);
    const startedAt = this.seq;
    // A shared fill works for no one request: the deadline or departure of the one that started it must not fail the others.
    const promise = this.enabled ? sharedWork(() => this.fillAndStore(key, startedAt, fill)) : this.fillAndStore(key, startedAt, fill);
    if (this.enabled) {
      this.flights.set(key, { startedAt, promise });
      const forget = () => {
        if (this.flights.get(key)?.promise === promise) this.flights.delete(key);
      };
      promise.then(forget, forget);
      return untilRequestEnds(promise);
    }
    return promise;
  }

  private async fillAndStore<V>(key: string, startedAt: number, fill: () => Promise<Filled<V>>): Promise<V> {
    this.inFlight++;
    try {
      const filled = await fill();
      if (this.options.beforeStore) await this.options.beforeStore(key);
      if (!this.enabled || filled.keep === false) return filled.value;
      if (this.touchedSince(filled.tags, startedAt)) this.stats.discardedFills++;
      else this.store(key, filled);
      return filled.value;
    } finally {
      this.inFlight--;
      // The touch records only matter to fills under way.
      if (this.inFlight === 0) this.touchedAt.clear();
    }
  }

  private touchedSince(tags: Tags, startedAt: number): boolean {
    if (this.resetAt > startedAt) return true;
    return tagKeys(tags).some((tag) => (this.touchedAt.get(tag) ?? 0) > startedAt);
  }

  private store(key: string, filled: Filled<unknown>): void {
    const bytes = filled.bytes;
    if (bytes > this.options.maxBytes) return;
    this.delete(key);
    this.entries.set(key, { value: filled.value, tags: filled.tags, bytes });
    for (const tag of tagKeys(filled.tags)) {
      let keys = this.byTag.get(tag);
      if (!keys) this.byTag.set(tag, (keys = new Set()));
      keys.add(key);
    }
    this.total += bytes;
    for (const oldest of this.entries.keys()) {
      if (this.total <= this.options.maxBytes) break;
      this.delete(oldest);
      this.stats.evictions++;
    }
    this.updateSize();
  }

  private delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.total -= entry.bytes;
    for (const tag of tagKeys(entry.tags)) {
      const keys = this.byTag.get(tag);
      keys?.delete(key);
      if (keys?.size === 0) this.byTag.delete(tag);
    }
    this.updateSize();
  }

  private updateSize(): void {
    this.stats.entries = this.entries.size;
    this.stats.bytes = this.total;
  }
}
