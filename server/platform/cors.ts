import { cors } from "@connectrpc/connect";
import type { IncomingHttpHeaders } from "node:http";
import type { Logger } from "./logging.js";

/** What a CORS check decided for one request. */
export interface CorsDecision {
  /** Headers to add to the response. */
  headers: Record<string, string>;
  /** True when this was a preflight that has been fully answered. */
  preflight: boolean;
}

// A browser may send its own request id or trace context, and read the id the
// service answers with (so a user can quote it).
const ALLOWED_HEADERS = [...cors.allowedHeaders, "Authorization", "X-Request-Id", "Traceparent"].join(", ");
const ALLOWED_METHODS = cors.allowedMethods.join(", ");
const EXPOSED_HEADERS = [...cors.exposedHeaders, "X-Request-Id"].join(", ");

/**
 * CORS for browsers calling Connect and gRPC-Web, with Connect's own header lists.
 * A preflight from an origin not allowed gets no CORS headers (the browser then
 * refuses the call) and a warning in the log, since the browser says little.
 */
export function corsFor(allowed: readonly string[], logger?: Logger) {
  const any = allowed.includes("*");
  const set = new Set(allowed);
  return (method: string | undefined, headers: IncomingHttpHeaders, path?: string): CorsDecision | undefined => {
    const origin = headers.origin;
    const isPreflight = method === "OPTIONS" && headers["access-control-request-method"] !== undefined;
    if (origin === undefined) return undefined;
    if (!any && !set.has(origin)) {
      if (isPreflight) {
        logger?.warn("cors preflight refused", {
          origin,
          path,
          request_method: headers["access-control-request-method"],
          reason: allowed.length === 0 ? "CORS is off (CORS_ALLOWED_ORIGINS is empty)" : "origin not in CORS_ALLOWED_ORIGINS",
        });
      }
      return undefined;
    }
    const base = { "access-control-allow-origin": origin, vary: "Origin" };
    if (isPreflight) {
      return {
        preflight: true,
        headers: {
          ...base,
          "access-control-allow-methods": ALLOWED_METHODS,
          "access-control-allow-headers": ALLOWED_HEADERS,
          "access-control-max-age": "7200",
        },
      };
    }
    return { preflight: false, headers: { ...base, "access-control-expose-headers": EXPOSED_HEADERS } };
  };
}
