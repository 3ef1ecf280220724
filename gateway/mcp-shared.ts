import type { Endpoint } from "./endpoints.js";
import type { GatewayLogger } from "./log.js";
import type { GatewayMetrics } from "./metrics.js";
import type { UpstreamGuard } from "./upstream/index.js";

/** What both protocol eras' servers need. */
export interface McpDeps {
  logger: GatewayLogger;
  metrics: GatewayMetrics;
  guard: UpstreamGuard;
  upstreamTimeoutMs: number;
  upstreamMaxResponseBytes: number;
  listTtlMs: number;
  /** How long a 2025-era client's user has to answer a confirmation. */
  confirmTimeoutMs: number;
  /** The cap on listen streams of one endpoint and credential. */
  listenStreamsPerEndpoint: number;
  /** The gateway's version, shown in serverInfo. */
  version: string;
}

/** serverInfo of an endpoint: the toolset's name and what it serves. */
export function serverInfo(endpoint: Endpoint, version: string): { name: string; title: string; version: string } {
  const r = endpoint.state.resolved;
  return { name: `toolset-release/${endpoint.address.label}`, title: r.name !== "" ? r.name : r.slug, version };
}

/** The instructions sent at initialize/discover: the toolset's description. */
export function instructions(endpoint: Endpoint): string | undefined {
  const d = endpoint.state.resolved.description;
  return d === "" ? undefined : d;
}

/** The longest ttl a client honours (24 h): a release never changes. */
const RELEASE_TTL_MS = 24 * 60 * 60 * 1000;

/** ttlMs and cacheScope of list results (2026-07-28): public only where no key is involved. */
export function cacheHint(endpoint: Endpoint, ttlMs: number): { ttlMs: number; cacheScope: "public" | "private" } {
  return {
    ttlMs: endpoint.address.kind === "release" ? RELEASE_TTL_MS : ttlMs,
    cacheScope: endpoint.anonymous ? "public" : "private",
  };
}
