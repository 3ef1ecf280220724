import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { createHash } from "node:crypto";
import { Target, type ReleaseService, type ResolvedToolset, type WatchToolsetResponse } from "../gen/releases/v1/releases_pb.js";
import type { EndpointAddress } from "./address.js";
import { servedState, type ServedState } from "./content.js";
import type { GatewayLogger } from "./log.js";
import type { GatewayMetrics } from "./metrics.js";
import { REQUEST_ID_HEADER } from "./request-id.js";
import { currentRequestId } from "./request-log.js";

/** Why an endpoint cannot be served; the HTTP layer turns it into 401, 404 or 503. */
export type EndpointFailure = "unauthenticated" | "not_found" | "unavailable";

/** An endpoint that cannot be served now. */
export class EndpointError extends Error {
  constructor(
    readonly failure: EndpointFailure,
    message: string,
  ) {
    super(message);
    this.name = "EndpointError";
  }
}

/** Why an endpoint stopped: its clients' streams end. */
export type CloseReason = "gone" | "revoked" | "idle" | "shutdown";

/** What a session or listen stream hears from its endpoint. */
export interface EndpointListener {
  /** The served lists changed (never for a release endpoint). */
  changed(change: { tools: boolean; prompts: boolean }): void;
  /** The endpoint stopped; the listener must end its stream. */
  closed(reason: CloseReason): void;
}

/** The options of an EndpointRegistry. */
export interface EndpointRegistryOptions {
  client: Client<typeof ReleaseService>;
  logger: GatewayLogger;
  metrics: GatewayMetrics;
  /** How long an endpoint without clients keeps its watch. */
  idleMs: number;
  /** Longest wait for the first answer of the release service. */
  resolveTimeoutMs: number;
  /** Longest silence on a watch before it is reopened (the service sends keepalives). */
  watchSilenceMs?: number;
  /** Reopen backoff after a watch broke. */
  backoffMs?: { min: number; max: number };
  /**
   * How long a "not found" or "unauthenticated" first answer is remembered for
   * its address and credential, so that repeated requests for an endpoint that
   * does not exist do not each open a watch; 0 = not remembered.
   */
  notFoundTtlMs?: number;
}

/**
 * One served endpoint for one credential: a single WatchToolset stream shared by
 * every session and listen stream of that endpoint and credential, and the state
 * it last delivered, already in MCP shapes.
 */
export class Endpoint {
  /** The state served now. */
  state!: ServedState;
  readonly listeners = new Set<EndpointListener>();
  private holds = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private abort: AbortController | undefined;
  private closedReason: CloseReason | undefined;
  private silenceTimer: NodeJS.Timeout | undefined;
  /** Settles start(); a close before the first state rejects it. */
  private settleStart: ((err?: EndpointError) => void) | undefined;

  constructor(
    readonly key: string,
    readonly address: EndpointAddress,
    /** The client's Authorization header, forwarded as is; undefined = anonymous. */
    readonly authorization: string | undefined,
    /** The id of the request that opened the endpoint, sent with every (re)open of its watch. */
    private readonly openedBy: string | undefined,
    private readonly options: EndpointRegistryOptions,
    private readonly onClosed: (endpoint: Endpoint) => void,
  ) {}

  /** True for an anonymous (public) endpoint: list results may be cached publicly. */
  get anonymous(): boolean {
    return this.authorization === undefined;
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /** Opens the watch; resolves once the first state arrived, rejects with EndpointError. */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const first = (err?: EndpointError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => {
        first(new EndpointError("unavailable", "the release service did not answer in time"));
        this.close("shutdown");
      }, this.options.resolveTimeoutMs);
      this.settleStart = first;
      void this.watch(first);
    });
  }

  /** Counts a user of the endpoint (a session, a listen stream, a request in flight). */
  hold(): void {
    this.holds++;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  /** Ends a hold; the last one starts the idle timer that closes the watch. */
  release(): void {
    this.holds = Math.max(0, this.holds - 1);
    if (this.holds > 0 || this.closed) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.holds === 0) this.close("idle");
    }, this.options.idleMs);
    this.idleTimer.unref();
  }

  /** Stops the watch and tells every listener. */
  close(reason: CloseReason): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    this.settleStart?.(new EndpointError("unavailable", "the endpoint closed before the release service answered"));
    clearTimeout(this.idleTimer);
    clearTimeout(this.silenceTimer);
    this.abort?.abort();
    this.onClosed(this);
    for (const l of [...this.listeners]) {
      try {
        l.closed(reason);
      } catch (err) {
        this.options.logger.error("endpoint listener failed on close", { endpoint: this.address.label, error: err });
      }
    }
    this.listeners.clear();
  }

  private request() {
    const a = this.address;
    return {
      organization: a.org,
      project: a.project,
      mcpSlug: a.mcpSlug,
      ...(a.kind === "staging" ? { target: Target.STAGING } : {}),
      ...(a.kind === "release" ? { releaseNumber: a.release ?? 0n } : {}),
    };
  }

  private async watch(first: (err?: EndpointError) => void): Promise<void> {
    const { min, max } = this.options.backoffMs ?? { min: 100, max: 5_000 };
    let delay = min;
    let started = false;
    while (!this.closed) {
      const abort = new AbortController();
      this.abort = abort;
      const armSilence = () => {
        clearTimeout(this.silenceTimer);
        this.silenceTimer = setTimeout(() => abort.abort(), this.options.watchSilenceMs ?? 45_000);
        this.silenceTimer.unref();
      };
      try {
        armSilence();
        const headers: Record<string, string> = {
          ...(this.authorization === undefined ? {} : { authorization: this.authorization }),
          ...(this.openedBy === undefined ? {} : { [REQUEST_ID_HEADER]: this.openedBy }),
        };
        // Never `if_none_match` on a reopen: the etag leaves out mcp_enabled and
        // mcp_slug, so a "not modified" would hide an endpoint disabled meanwhile.
        const stream = this.options.client.watchToolset(this.request(), {
          signal: abort.signal,
          headers,
          // The service's echo of the id says which of its log lines this watch wrote.
          onHeader: (h) => this.options.logger.debug("watch opened", { endpoint: this.address.label, service_request_id: h.get(REQUEST_ID_HEADER) }),
        });
        for await (const msg of stream) {
          armSilence();
          if (this.closed) return;
          if (!this.receive(msg)) {
            // Disabled, or moved to another mcp_slug: this URL serves nothing now.
            if (!started) this.options.metrics.watchOpens.inc({ result: "not_found" });
            first(new EndpointError("not_found", "no MCP endpoint here"));
            this.close("gone");
            return;
          }
          if (!started && this.state !== undefined) {
            started = true;
            this.options.metrics.watchOpens.inc({ result: "ok" });
            first();
          }
          delay = min;
        }
        // The service ended the stream without a status (a shutdown): reopen.
      } catch (err) {
        if (this.closed) return;
        const code = abort.signal.aborted ? Code.Unavailable : ConnectError.from(err).code;
        const failure: EndpointFailure | undefined =
          code === Code.Unauthenticated
            ? "unauthenticated"
            : code === Code.NotFound || code === Code.PermissionDenied || code === Code.InvalidArgument || code === Code.FailedPrecondition
              ? "not_found"
              : started
                ? undefined
                : "unavailable";
        if (!started && failure !== undefined) this.options.metrics.watchOpens.inc({ result: failure });
        if (failure === "unauthenticated") {
          first(new EndpointError("unauthenticated", "the API key was not accepted"));
          this.close("revoked");
          return;
        }
        if (failure === "not_found") {
          first(new EndpointError("not_found", "no MCP endpoint here"));
          this.close("gone");
          return;
        }
        if (failure === "unavailable") {
          first(new EndpointError("unavailable", "the release service is unavailable"));
          this.close("shutdown");
          return;
        }
        this.options.logger.warn("watch interrupted; reopening", { endpoint: this.address.label, code: Code[code], retry_ms: delay });
      } finally {
        clearTimeout(this.silenceTimer);
      }
      if (this.closed) return;
      if (started) this.options.metrics.watchReconnects.inc();
      await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random() / 2)).unref());
      delay = Math.min(max, delay * 2);
    }
  }

  /** Takes a watch message in; false when the endpoint no longer serves anything at this address. */
  private receive(msg: WatchToolsetResponse): boolean {
    if (msg.keepalive || msg.resolved === undefined) return true;
    if (!msg.resolved.mcpEnabled) return false;
    // A release carries the mcp_slug it was cut with; the service found it by the live one.
    if (this.address.kind !== "release" && msg.resolved.mcpSlug !== this.address.mcpSlug) return false;
    this.apply(msg.resolved);
    return true;
  }

  private apply(resolved: ResolvedToolset): void {
    const previous = this.state as ServedState | undefined;
    if (previous !== undefined && previous.resolved.etag === resolved.etag && previous.resolved.releaseNumber === resolved.releaseNumber) return;
    const next = servedState(resolved);
    this.state = next;
    if (next.duplicateNames.length > 0) {
      this.options.logger.warn("tool names served twice; the first by URN is served", {
        endpoint: this.address.label,
        names: next.duplicateNames,
      });
    }
    // Only a change of what clients see is announced; a release endpoint never changes.
    if (previous === undefined || this.address.kind === "release" || previous.resolved.etag === resolved.etag) return;
    const change = { tools: previous.toolsKey !== next.toolsKey, prompts: previous.promptsKey !== next.promptsKey };
    if (!change.tools && !change.prompts) return;
    for (const l of [...this.listeners]) {
      try {
        l.changed(change);
      } catch (err) {
        this.options.logger.error("endpoint listener failed", { endpoint: this.address.label, error: err });
      }
    }
  }
}

/** Refusals remembered at most (each a key of ~100 bytes). */
const MAX_REMEMBERED_REFUSALS = 10_000;

/** The endpoints served now, one per address and credential. */
export class EndpointRegistry {
  private readonly endpoints = new Map<string, Promise<Endpoint>>();
  /** Every endpoint not closed yet, opening ones included (shutdown closes them all). */
  private readonly open = new Set<Endpoint>();
  private closing = false;
  /**
   * First answers "not found" and "unauthenticated" by registry key (address and
   * credential hash), with when they stop counting. Insertion order is expiry
   * order (one TTL for all), so expired entries are always at the front.
   */
  private readonly refused = new Map<string, { failure: EndpointFailure; until: number }>();

  constructor(private readonly options: EndpointRegistryOptions) {}

  /**
   * The endpoint for an address and credential, opened on first use. The caller
   * holds it (hold() is done) and must release() it. Rejects with EndpointError.
   */
  async acquire(address: EndpointAddress, authorization: string | undefined): Promise<Endpoint> {
    if (this.closing) throw new EndpointError("unavailable", "the gateway is shutting down");
    const key = endpointKey(address, authorization);
    let pending = this.endpoints.get(key);
    if (pending === undefined) {
      const known = this.knownRefusal(key);
      if (known !== undefined) {
        this.options.metrics.notFoundCacheHits.inc();
        throw new EndpointError(known, "the release service refused this endpoint a moment ago");
      }
      const endpoint = new Endpoint(key, address, authorization, currentRequestId(), this.options, (e) => {
        if (this.endpoints.get(key) === pending) this.endpoints.delete(key);
        this.open.delete(e);
      });
      this.open.add(endpoint);
      pending = endpoint.start().then(() => endpoint);
      this.endpoints.set(key, pending);
      // A failed start is forgotten at once; a refusal is remembered for a short while.
      pending.catch((err: unknown) => {
        if (this.endpoints.get(key) === pending) this.endpoints.delete(key);
        if (err instanceof EndpointError && err.failure !== "unavailable") this.rememberRefusal(key, err.failure);
      });
    }
    const endpoint = await pending;
    if (endpoint.closed) return this.acquire(address, authorization);
    endpoint.hold();
    return endpoint;
  }

  /**
   * A refusal of this address and credential still remembered. Keyed by the
   * credential's hash: one key's 401 never answers for another key, and a
   * toolset created (or key issued) meanwhile is reachable once the TTL passed.
   */
  private knownRefusal(key: string, now = performance.now()): EndpointFailure | undefined {
    for (const [k, entry] of this.refused) {
      if (entry.until > now) break;
      this.refused.delete(k);
    }
    return this.refused.get(key)?.failure;
  }

  private rememberRefusal(key: string, failure: EndpointFailure): void {
    const ttl = this.options.notFoundTtlMs ?? 0;
    if (ttl <= 0 || this.closing) return;
    this.refused.delete(key);
    this.refused.set(key, { failure, until: performance.now() + ttl });
    // Bounded: a client naming endless missing endpoints evicts its own oldest entries.
    if (this.refused.size > MAX_REMEMBERED_REFUSALS) this.refused.delete(this.refused.keys().next().value as string);
  }

  /** The number of endpoints open (each holds one watch). */
  get size(): number {
    return this.endpoints.size;
  }

  /** Closes every endpoint (shutdown). */
  close(): void {
    this.closing = true;
    this.endpoints.clear();
    this.refused.clear();
    for (const e of [...this.open]) e.close("shutdown");
  }
}

/** The registry key: the endpoint and a hash of the credential (never the key itself). */
export function endpointKey(address: EndpointAddress, authorization: string | undefined): string {
  const who = authorization === undefined ? "anonymous" : createHash("sha256").update(authorization).digest("base64url");
  return `${address.label}#${who}`;
}
