import { AsyncLocalStorage } from "node:async_hooks";

/** What the log line of one MCP request says besides the HTTP facts. */
export interface RequestNote {
  /** The release served (0 = an unreleased state). */
  release?: number;
  /** A tools/call or prompts/get outcome, when the handler knows better than the status. */
  outcome?: string;
  /** The tool called (names are not secrets; argument values are never logged). */
  tool?: string;
}

/** A request being handled: its id (on every log line written for it) and its note. */
interface RequestScope {
  requestId: string;
  note: RequestNote;
}

const scopes = new AsyncLocalStorage<RequestScope>();

/**
 * Runs `fn` for the request `requestId`, with a note that handlers of this
 * request can fill in. Whatever `fn` starts keeps the id: a shared
 * WatchToolset opened here carries the id of the request that opened it.
 */
export function withRequestNote<T>(requestId: string, note: RequestNote, fn: () => T): T {
  return scopes.run({ requestId, note }, fn);
}

/** Adds to the note of the request being handled (no-op outside one). */
export function noteRequest(fields: RequestNote): void {
  const scope = scopes.getStore();
  if (scope !== undefined) Object.assign(scope.note, fields);
}

/** The id of the request being handled; undefined outside one (start-up, timers started by no request). */
export function currentRequestId(): string | undefined {
  return scopes.getStore()?.requestId;
}
