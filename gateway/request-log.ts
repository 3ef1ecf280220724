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

const notes = new AsyncLocalStorage<RequestNote>();

/** Runs `fn` with a note that handlers of this request can fill in. */
export function withRequestNote<T>(note: RequestNote, fn: () => T): T {
  return notes.run(note, fn);
}

/** Adds to the note of the request being handled (no-op outside one). */
export function noteRequest(fields: RequestNote): void {
  const note = notes.getStore();
  if (note !== undefined) Object.assign(note, fields);
}
