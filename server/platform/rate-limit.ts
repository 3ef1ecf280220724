import { isIPv6 } from "node:net";
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, type ContextValues } from "@connectrpc/connect";
import type { RateLimit, RateLimits } from "../config.js";
import { ERROR_REASONS, retryLater } from "./errors.js";
import { currentRequest } from "./request-context.js";

/** Buckets one limiter holds at most: a bound on memory whatever keys or addresses arrive (about 150 bytes each). */
export const MAX_BUCKETS = 100_000;

interface Bucket {
  tokens: number;
  /** `now()` when `tokens` was computed. */
  at: number;
}

/**
 * Token buckets, one per key, in this process's memory: a key may spend `burst`
 * calls at once and `perSecond` on average. A bucket idle long enough to be full
 * again is the same as no bucket, so it is dropped; past {@link MAX_BUCKETS}
 * the least recently used is dropped (its key starts again with a full bucket:
 * memory stays bounded, at the price of letting that key burst once more).
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;
  /** After this long untouched, a bucket is full whatever it held. */
  private readonly refillMs: number;

  constructor(
    private readonly limit: RateLimit,
    private readonly options: { maxBuckets?: number; now?: () => number } = {},
  ) {
    if (limit.perSecond <= 0) throw new Error("a token bucket needs a positive rate");
    this.perMs = limit.perSecond / 1000;
    this.refillMs = limit.burst / this.perMs;
  }

  /** Takes one token of `key`'s bucket: 0 when granted, else the ms until a token will be there. */
  take(key: string): number {
    const now = this.options.now?.() ?? performance.now();
    this.dropIdle(now);
    const bucket = this.buckets.get(key);
    let tokens = this.limit.burst;
    if (bucket) {
      tokens = Math.min(this.limit.burst, bucket.tokens + (now - bucket.at) * this.perMs);
      this.buckets.delete(key); // re-inserted below: the map stays in order of last use
    } else if (this.buckets.size >= (this.options.maxBuckets ?? MAX_BUCKETS)) {
      const oldest = this.buckets.keys().next();
      if (!oldest.done) this.buckets.delete(oldest.value);
    }
    const granted = tokens >= 1;
    if (granted) tokens -= 1;
    this.buckets.set(key, { tokens, at: now });
    return granted ? 0 : (1 - tokens) / this.perMs;
  }

  /** The ms until `key`'s bucket holds a token (0: now), taking nothing. */
  wait(key: string): number {
    const bucket = this.buckets.get(key);
    if (!bucket) return 0;
    const now = this.options.now?.() ?? performance.now();
    const tokens = Math.min(this.limit.burst, bucket.tokens + (now - bucket.at) * this.perMs);
    return tokens >= 1 ? 0 : (1 - tokens) / this.perMs;
  }

  /** Buckets held now (tests, metrics). */
  get size(): number {
    return this.buckets.size;
  }

  // The map is in order of last use, so the idle buckets are at its front: the
  // walk stops at the first one used within the refill time (amortized O(1)).
  private dropIdle(now: number): void {
    for (const [key, bucket] of this.buckets) {
      if (now - bucket.at < this.refillMs) return;
      this.buckets.delete(key);
    }
  }
}

/** Which limit a call counts against. */
export type LimitKind = keyof RateLimits;

/** What the rate limiter needs to know of authentication, without importing it (platform/ sits below auth/). */
export interface RateLimitClassifier {
  /** Services never limited: health and reflection, so load balancers and grpcurl always get through. */
  exempt: ReadonlySet<string>;
  /** The API key id of an authenticated call; undefined for an anonymous one. */
  keyOf: (values: ContextValues) => string | undefined;
  /** Whether the method is a read (reads and writes have separate buckets). */
  isRead: (method: { idempotency?: number }) => boolean;
}

/**
 * RATE_LIMIT_*: reads and writes per API key, calls without a key per client
 * address (an IPv6 client per /64, which one host usually holds whole). Runs
 * after authentication, so only real keys get a bucket. Limits are per replica:
 * N replicas let a key through N times as fast. A streaming call counts once,
 * when it opens. Returns the check of one call: it throws RESOURCE_EXHAUSTED,
 * reason RATE_LIMITED (metadata `limit`), with a RetryInfo delay until the
 * bucket holds a token. It reads the client address from the request context
 * and runs in the RPC handler's admission, once the caller is known and before
 * the body is read (server/app.ts), so a limited call costs no decoding.
 */
export function createRateLimiter(
  limits: RateLimits,
  classify: RateLimitClassifier,
  options: { now?: () => number } = {},
): (method: DescMethod, values: ContextValues) => void {
  const make = (limit: RateLimit) => (limit.perSecond > 0 ? new TokenBuckets(limit, options) : undefined);
  const buckets: Record<LimitKind, TokenBuckets | undefined> = {
    read: make(limits.read),
    write: make(limits.write),
    anonymous: make(limits.anonymous),
  };
  return (method, values) => {
    if (classify.exempt.has(method.parent.typeName)) return;
    const keyId = classify.keyOf(values);
    const kind: LimitKind = keyId === undefined ? "anonymous" : classify.isRead(method) ? "read" : "write";
    const key = keyId ?? addressKey(currentRequest()?.clientAddress ?? "unknown");
    const waitMs = buckets[kind]?.take(key) ?? 0;
    if (waitMs === 0) return;
    const seconds = Math.max(0.001, waitMs / 1000).toFixed(3);
    throw retryLater(
      `rate limit exceeded (${kind}: ${limits[kind].perSecond}/s, burst ${limits[kind].burst}); retry in ${seconds} s`,
      Code.ResourceExhausted,
      waitMs,
      ERROR_REASONS.RATE_LIMITED,
      { limit: kind },
    );
  };
}

/**
 * Bounds the keys an address may get wrong: each call whose key is unknown or
 * revoked spends a token of the address's bucket (the anonymous limit), and an
 * address whose bucket is empty is refused RATE_LIMITED before its next key is
 * looked up. A flood of made-up keys then costs at most that many database
 * look-ups per address, instead of filling the pool's queue for everyone.
 */
export function createAuthFailureLimiter(limit: RateLimit, options: { now?: () => number } = {}): { check(): void; failed(): void } {
  const buckets = limit.perSecond > 0 ? new TokenBuckets(limit, options) : undefined;
  const address = () => addressKey(currentRequest()?.clientAddress ?? "unknown");
  return {
    check() {
      const waitMs = buckets?.wait(address()) ?? 0;
      if (waitMs === 0) return;
      throw retryLater(
        `too many calls with an unknown or revoked key from this address; retry in ${Math.max(0.001, waitMs / 1000).toFixed(3)} s`,
        Code.ResourceExhausted,
        waitMs,
        ERROR_REASONS.RATE_LIMITED,
        { limit: "anonymous" },
      );
    },
    failed() {
      buckets?.take(address());
    },
  };
}

/** The bucket key of a client address: an IPv4 address as is, an IPv6 address by its /64 prefix. */
export function addressKey(address: string): string {
  if (!isIPv6(address)) return address;
  // An embedded IPv4 address (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) is the last two groups; a zone is not part of it.
  const text = address.split("%", 1)[0]!.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a: string, b: string, c: string, d: string) =>
    [
      [a, b],
      [c, d],
    ]
      .map(([x, y]) => ((Number(x) << 8) | Number(y)).toString(16))
      .join(":"),
  );
  const [head = "", tail] = text.split("::", 2);
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  const prefix = groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16));
  return `${prefix.join(":")}::/64`;
}
