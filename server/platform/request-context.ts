import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

/**
 * What every layer may know about the RPC it works for, without it being passed
 * down: set by the RPC handler (platform/rpc-handler.ts) around each request, read
 * by the logger (request id), the database layer (deadline, cancellation) and the
 * rate limiter (client address).
 */
export interface RequestContext {
  /** The client's `x-request-id` or `traceparent` trace id when valid, else a new UUID; echoed as `x-request-id`. */
  readonly requestId: string;
  /** The client's address: the socket's, or X-Forwarded-For's entry behind TRUSTED_PROXY_HOPS proxies. */
  readonly clientAddress: string;
  /** `performance.now()` by which the client stops waiting (grpc-timeout, connect-timeout-ms); undefined = no deadline. */
  readonly deadline: number | undefined;
  /**
   * Aborted when the client goes away or its deadline passes; its reason is a
   * ConnectError (CANCELED or DEADLINE_EXCEEDED). Unlike the handler context's
   * signal it is not aborted at shutdown, so work a unary call started may
   * finish in the drain; database work is cancelled on it.
   */
  readonly signal: AbortSignal;
  /**
   * Set by the observe interceptor when it takes the RPC (it then writes the
   * RPC's log line); a request refused before the interceptors ran (while
   * decoding, say) is logged by the RPC handler instead, so every request logs
   * exactly one line.
   */
  readonly marks: { observed: boolean };
}

const storage = new AsyncLocalStorage<RequestContext>();

/** The context of the RPC this code runs for; undefined outside one (start-up, the change feed). */
export function currentRequest(): RequestContext | undefined {
  return storage.getStore();
}

/** Runs `fn` (and everything it starts) within `context`. */
export function runInRequest<T>(context: RequestContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** The response header that carries the request id. */
export const REQUEST_ID_HEADER = "x-request-id";

// Printable, no spaces or quotes: safe in a header, a log line and an error message.
const REQUEST_ID = /^[A-Za-z0-9._:\-/+=]{1,128}$/;
// W3C Trace Context: version-traceid-parentid-flags; an all-zero trace id is invalid.
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The request id: a valid `x-request-id`, else the trace id of a valid `traceparent`, else new. */
export function requestIdFrom(headers: IncomingHttpHeaders): string {
  const given = headers[REQUEST_ID_HEADER];
  if (typeof given === "string" && REQUEST_ID.test(given)) return given;
  const trace = TRACEPARENT.exec(typeof headers["traceparent"] === "string" ? headers["traceparent"].trim() : "")?.[1];
  if (trace !== undefined && !/^0+$/.test(trace)) return trace;
  return randomUUID();
}

/** The longest delay a Node.js timer takes (2^31 − 1 ms, about 24.8 days); a longer one fires at once, with a warning. */
export const MAX_TIMER_MS = 2_147_483_647;

const GRPC_UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000_001 };

/**
 * The client's timeout in ms from `grpc-timeout` (gRPC, gRPC-Web) or
 * `connect-timeout-ms` (Connect); undefined when absent or malformed (the
 * protocol layer answers a malformed one). Values beyond {@link MAX_TIMER_MS}
 * are clamped to it: so long a deadline is no deadline in practice.
 */
export function timeoutMsFrom(headers: IncomingHttpHeaders): number | undefined {
  const grpc = headers["grpc-timeout"];
  if (typeof grpc === "string") {
    const m = /^(\d{1,8})([HMSmun])$/.exec(grpc);
    return m ? Math.min(Number(m[1]) * GRPC_UNITS[m[2]!]!, MAX_TIMER_MS) : undefined;
  }
  const connect = headers["connect-timeout-ms"];
  if (typeof connect === "string") return /^\d{1,10}$/.test(connect) ? Math.min(Number(connect), MAX_TIMER_MS) : undefined;
  return undefined;
}

/**
 * Rewrites a timeout header longer than {@link MAX_TIMER_MS} to that bound, so
 * the protocol layer neither refuses it nor arms an overflowing timer (which
 * Node.js fires at once, with a TimeoutOverflowWarning).
 */
export function clampTimeoutHeaders(headers: IncomingHttpHeaders): void {
  const ms = timeoutMsFrom(headers);
  if (ms === undefined || ms < MAX_TIMER_MS) return;
  // grpc-timeout has at most 8 digits: whole seconds, just under the bound.
  if (typeof headers["grpc-timeout"] === "string") headers["grpc-timeout"] = `${Math.floor(MAX_TIMER_MS / 1000)}S`;
  else headers["connect-timeout-ms"] = String(MAX_TIMER_MS);
}

/**
 * The client's address: the socket's peer, or, behind `trustedHops` proxies that
 * each append the address they saw to X-Forwarded-For, the entry those proxies
 * added last for the client (never an entry the client could have written).
 */
export function clientAddressOf(remoteAddress: string | undefined, headers: IncomingHttpHeaders, trustedHops: number): string {
  const socket = normalizeAddress(remoteAddress ?? "unknown");
  if (trustedHops === 0) return socket;
  const forwarded = (Array.isArray(headers["x-forwarded-for"]) ? headers["x-forwarded-for"].join(",") : (headers["x-forwarded-for"] ?? ""))
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  // The last proxy's own peer is the socket; each earlier trusted proxy added one entry.
  const entry = forwarded[forwarded.length - trustedHops];
  return entry === undefined ? socket : normalizeAddress(entry);
}

function normalizeAddress(address: string): string {
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}
