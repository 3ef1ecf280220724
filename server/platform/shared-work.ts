import { AsyncResource } from "node:async_hooks";

// Made when this module loads, outside any request: running in its scope
// leaves whatever request context the caller had behind.
const root = new AsyncResource("toolsets.shared-work");

/**
 * Runs `fn`, and everything it starts, outside the current request: for work
 * that several requests share (one fill of the served state, one watch topic's
 * reload) and that must not inherit the deadline or cancellation of whichever
 * request happened to start it (see platform/request-context.ts, which the
 * database layer obeys). Such work is bounded by the database's own timeouts.
 */
export function sharedWork<T>(fn: () => T): T {
  return root.runInAsyncScope(fn);
}
