/** A token bucket's shape; `perSecond` 0 turns the limit off. */
export interface RateLimit {
  perSecond: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  /** performance.now() of the last refill. */
  at: number;
}

/** Buckets kept at most; beyond, the least recently used is forgotten (it comes back full: the permissive failure). */
const MAX_BUCKETS = 100_000;

/**
 * Token buckets by key (a client address), in memory: each gateway process
 * limits on its own, so N replicas allow N times the rate. A bucket that has
 * refilled completely is dropped, so idle clients cost nothing.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly limit: RateLimit) {
    if (limit.perSecond > 0) this.sweeper = setInterval(() => this.sweep(), 10_000).unref();
  }

  /** Takes a token for `key`: 0 when allowed, else how many ms until one is free. */
  take(key: string, now = performance.now()): number {
    const { perSecond, burst } = this.limit;
    if (perSecond <= 0) return 0;
    const b = this.buckets.get(key);
    const tokens = b === undefined ? burst : Math.min(burst, b.tokens + ((now - b.at) / 1000) * perSecond);
    // Most recently used last, so the first entry is the one to forget.
    this.buckets.delete(key);
    if (tokens >= 1) {
      this.buckets.set(key, { tokens: tokens - 1, at: now });
      if (this.buckets.size > MAX_BUCKETS) this.buckets.delete(this.buckets.keys().next().value as string);
      return 0;
    }
    this.buckets.set(key, { tokens, at: now });
    return Math.ceil(((1 - tokens) / perSecond) * 1000);
  }

  /** Buckets held now (tests). */
  get size(): number {
    return this.buckets.size;
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private sweep(now = performance.now()): void {
    const { perSecond, burst } = this.limit;
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * perSecond >= burst) this.buckets.delete(key);
    }
  }
}

/** Counts of things each key (a client address) holds open, with a cap. */
export class CountsPerKey {
  private readonly counts = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** Counts one more for `key`; false (and nothing counted) when it holds `max` already. */
  acquire(key: string): boolean {
    const n = this.counts.get(key) ?? 0;
    if (n >= this.max) return false;
    this.counts.set(key, n + 1);
    return true;
  }

  release(key: string): void {
    const n = (this.counts.get(key) ?? 0) - 1;
    if (n <= 0) this.counts.delete(key);
    else this.counts.set(key, n);
  }

  /** What `key` holds now. */
  of(key: string): number {
    return this.counts.get(key) ?? 0;
  }
}
