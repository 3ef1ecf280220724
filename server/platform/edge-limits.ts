import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ERROR_REASONS, retryLater } from "./errors.js";

/**
 * The request size limit of an RPC whose request is addresses, page tokens and
 * short text (every read, delete, mode switch, publish, rollback, health and
 * reflection): the largest such field is 4096 characters, 48 KiB even when a
 * client escapes every character as a JSON surrogate pair.
 */
export const SMALL_REQUEST_BYTES = 64 * 1024;

/**
 * The RPCs whose requests carry more, with the bound each needs, from the
 * limits their proto comments document (and validate.ts enforces). A JSON
 * client may escape every non-ASCII character (`\uXXXX`, 6 bytes; 12 for a
 * surrogate pair), so the bounds leave room for that. MAX_REQUEST_BYTES caps
 * every one of them.
 */
const LARGER_REQUESTS: ReadonlyMap<string, number> = new Map([
  // Up to 5,000 tool definitions, each with a 64 KiB input schema: only the full limit.
  ["sources.v1.SourceService/CreateDeployment", Infinity],
  // Up to 1,000 tool URNs, 1,000 resource URNs of 512 characters and 1,000 prompt names.
  ["toolsets.v1.ToolsetService/CreateToolset", Infinity],
  ["toolsets.v1.ToolsetService/UpdateToolset", Infinity],
  // A 64 KiB prompt, a 64 KiB arguments schema and a 4,096-character description
  // (a prompt escaped whole as \u00XX would need more; no real one is). Kept
  // tight: a Struct of small entries costs up to ~0.7 ms per KiB to decode,
  // and its arguments may only be 64 KiB.
  ["sources.v1.SourceService/UpsertPromptTemplate", 256 * 1024],
  // Four 4,096-character texts and 64 tags of 128 characters.
  ["toolsets.v1.ToolsetService/UpsertToolVariation", 512 * 1024],
]);

/** The most bytes one request message of `method` may have: its own bound, at most `maxRequestBytes`. */
export function requestLimitOf(method: DescMethod, maxRequestBytes: number): number {
  return Math.min(LARGER_REQUESTS.get(`${method.parent.typeName}/${method.name}`) ?? SMALL_REQUEST_BYTES, maxRequestBytes);
}

/** The answer to a request whose declared size is over its RPC's limit: RESOURCE_EXHAUSTED naming the limit. */
export function tooLarge(size: number, limit: number): ConnectError {
  return new ConnectError(`request message of ${size} bytes is larger than this RPC's limit of ${limit} bytes`, Code.ResourceExhausted);
}

/** How long a client refused for overload is told to wait before it retries. */
const OVERLOAD_RETRY_MS = 100;

/**
 * Counts the unary RPCs this process is working on and refuses the one past
 * `max` at once (RESOURCE_EXHAUSTED, reason OVERLOADED, resource in_flight,
 * with a retry delay), rather than queueing it behind work that already waits
 * (for pool connections, say) until its client gives up. A place is taken once
 * the request is decoded (a client sending its body slowly holds none); while
 * all are taken, new requests are refused before their body is read.
 */
export class InFlightGate {
  private count = 0;

  constructor(readonly max: number) {}

  /** The unary RPCs in progress. */
  get inFlight(): number {
    return this.count;
  }

  /** The refusal of a request now, if every place is taken. */
  refusal(): ConnectError | undefined {
    if (this.count < this.max) return undefined;
    return retryLater(
      `the server is at its limit of ${this.max} calls in progress; retry shortly`,
      Code.ResourceExhausted,
      OVERLOAD_RETRY_MS,
      ERROR_REASONS.OVERLOADED,
      { resource: "in_flight" },
    );
  }

  /** Runs `work` in a place, or throws the refusal when every place is taken. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    const refusal = this.refusal();
    if (refusal !== undefined) throw refusal;
    this.count++;
    try {
      return await work();
    } finally {
      this.count--;
    }
  }
}
