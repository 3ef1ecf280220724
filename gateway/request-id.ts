import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

// The rules of the release service's request ids (server/platform/request-context.ts),
// written again here because the gateway does not import server/: an id the
// gateway accepts, the service accepts too, so one id follows a request through both.

/** The header that carries the request id, both ways. */
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

/**
 * The client's address: the socket's peer, or, behind `trustedHops` proxies that
 * each append the address they saw to X-Forwarded-For, the entry those proxies
 * added last for the client (never an entry the client could have written).
 */
export function clientAddressOf(remoteAddress: string | undefined, headers: IncomingHttpHeaders, trustedHops: number): string {
  const socket = normalizeAddress(remoteAddress ?? "unknown");
  if (trustedHops === 0) return socket;
  const header = headers["x-forwarded-for"];
  const forwarded = (Array.isArray(header) ? header.join(",") : (header ?? ""))
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
