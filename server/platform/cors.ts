import { cors } from "@connectrpc/connect";
import type { IncomingHttpHeaders } from "node:http";

/** What a CORS check decided for one request. */
export interface CorsDecision {
  /** Headers to add to the response. */
  headers: Record<string, string>;
  /** True when this was a preflight that has been fully answered. */
  preflight: boolean;
}

const ALLOWED_HEADERS = [...cors.allowedHeaders, "Authorization"].join(", ");
const ALLOWED_METHODS = cors.allowedMethods.join(", ");
const EXPOSED_HEADERS = cors.exposedHeaders.join(", ");

/** CORS for browsers calling Connect and gRPC-Web, with Connect's own header lists. */
export function corsFor(allowed: readonly string[]) {
  const any = allowed.includes("*");
  const set = new Set(allowed);
  return (method: string | undefined, headers: IncomingHttpHeaders): CorsDecision | undefined => {
    const origin = headers.origin;
    if (origin === undefined || (!any && !set.has(origin))) return undefined;
    const base = { "access-control-allow-origin": origin, vary: "Origin" };
    if (method === "OPTIONS" && headers["access-control-request-method"] !== undefined) {
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
