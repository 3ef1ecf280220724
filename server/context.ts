import { Code } from "@connectrpc/connect";
import type { Kysely } from "kysely";
import type { UnknownField } from "@bufbuild/protobuf";
import type { ResolvedToolset } from "../gen/releases/v1/releases_pb.js";
import { Tenancy } from "./auth/tenancy.js";
import type { Database } from "./db/database.js";
import { toConnectError } from "./platform/errors.js";
import type { Logger } from "./platform/logging.js";
import type { PoolCounts } from "./platform/metrics.js";
import type { Change } from "./serving/change.js";
import { ChangeListener } from "./serving/listener.js";
import { ServedState } from "./serving/served-state.js";
import { WatchHub } from "./serving/watch-hub.js";

/** A resolved target as this process serves it; shared by every response and watcher, never mutated. */
export interface ServedResolve {
  message: ResolvedToolset;
  /**
   * `message` encoded as field 1 (`resolved`) of ResolveToolsetResponse and
   * WatchToolsetResponse, made on first use and shared by every binary
   * response and watcher of this state (see platform/wire.ts).
   */
  resolvedField(): UnknownField;
}

/**
 * What every handler receives, built once per process and passed down (never
 * imported back from the app that assembles the handlers).
 */
export interface ServiceContext {
  db: Kysely<Database>;
  logger: Logger;
  /** Callers, projects and organizations, from the served state. */
  tenancy: Tenancy;
  /** What this process serves from memory, kept true by the change feed. */
  served: ServedState;
  /** WatchToolset's shared topics. */
  watches: WatchHub<ServedResolve>;
  /** The change feed; undefined when turned off (then every read goes to the database). */
  listener: ChangeListener | undefined;
  /** Longest silence on a WatchToolset stream before a keepalive. */
  watchKeepaliveMs: number;
}

/** What a ServiceContext is built from. */
export interface ContextOptions {
  db: Kysely<Database>;
  logger: Logger;
  /** Bound of the served state, in (estimated) bytes; 0 turns it off. */
  servedStateMaxBytes: number;
  /** Where the change feed LISTENs; undefined turns it off (every read goes to the database). */
  listenUrl: string | undefined;
  /** Default 15 s. */
  watchKeepaliveMs?: number;
  /** How often watched topics are reloaded while the change feed is down. Default 2 s. */
  watchPollMs?: number;
  /** Listener settings (tests shorten them). */
  listenerPingMs?: number;
  listenerBackoffMs?: { min: number; max: number };
  /** Test hook between a fill's read and its store (see ServedState). */
  beforeStore?: (key: string) => Promise<void>;
  /** Database pools by name (a pg.Pool fits), for /metrics: connections in use, idle, checkouts waiting. */
  pools?: Readonly<Record<string, PoolCounts>>;
  /** Each change notice as it arrives (the app measures the feed's lag with it). */
  onNotice?: (change: Change) => void;
}

/** Errors that end a watch rather than being retried. */
function endsWatch(error: unknown): boolean {
  // Handlers throw DomainErrors too (a deleted toolset's NOT_FOUND): classify as the client will see it.
  const code = toConnectError(error).error.code;
  return code === Code.NotFound || code === Code.Unauthenticated || code === Code.PermissionDenied || code === Code.InvalidArgument;
}

/** Builds the objects handlers share. The listener is created, not started (the app starts and stops it). */
export function createServiceContext(opts: ContextOptions): ServiceContext {
  const served = new ServedState({ maxBytes: opts.servedStateMaxBytes, ...(opts.beforeStore ? { beforeStore: opts.beforeStore } : {}) });
  const watches = new WatchHub<ServedResolve>({ logger: opts.logger, pollMs: opts.watchPollMs ?? 2_000, isFinal: endsWatch });
  const listener =
    opts.listenUrl === undefined
      ? undefined
      : new ChangeListener({
          connectionString: opts.listenUrl,
          logger: opts.logger,
          onChange(change) {
            opts.onNotice?.(change);
            served.apply(change);
            watches.apply(change);
          },
          onState(up) {
            served.setEnabled(up);
            watches.setFeedUp(up);
          },
          ...(opts.listenerPingMs !== undefined ? { pingMs: opts.listenerPingMs } : {}),
          ...(opts.listenerBackoffMs !== undefined ? { backoffMs: opts.listenerBackoffMs } : {}),
        });
  // Without a feed the hub polls (nothing else would tell it of a change).
  if (!listener) watches.setFeedUp(false);
  return {
    db: opts.db,
    logger: opts.logger,
    tenancy: new Tenancy(opts.db, served),
    served,
    watches,
    listener,
    watchKeepaliveMs: opts.watchKeepaliveMs ?? 15_000,
  };
}
