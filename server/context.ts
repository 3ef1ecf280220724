import type { Kysely } from "kysely";
import type { ResolvedToolset } from "../gen/releases/v1/releases_pb.js";
import type { Database } from "./db/database.js";
import type { Logger } from "./platform/logging.js";
import { WeightedLru } from "./resolve/cache.js";

/**
 * What every handler receives, built once per process and passed down (never
 * imported back from the app that assembles the handlers).
 */
export interface ServiceContext {
  db: Kysely<Database>;
  logger: Logger;
  /** Resolved toolsets by content key; shared by every ResolveToolset call of this process. */
  resolveCache: WeightedLru<ResolvedToolset>;
}

/** What a ServiceContext is built from. */
export interface ContextOptions {
  db: Kysely<Database>;
  logger: Logger;
  /** Bound of the in-process cache of resolved toolsets, in tools; 0 turns it off. */
  resolveCacheTools: number;
}

/** Builds the objects handlers share. */
export function createServiceContext(opts: ContextOptions): ServiceContext {
  return {
    db: opts.db,
    logger: opts.logger,
    // Resolved messages are shared between responses; nothing mutates them.
    resolveCache: new WeightedLru<ResolvedToolset>(opts.resolveCacheTools, (m) => m.tools.length + 1),
  };
}
