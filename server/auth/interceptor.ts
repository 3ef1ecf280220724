import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { API_KEY_PATTERN } from "./keys.js";
import { callerKey } from "./caller.js";
import type { Tenancy } from "./tenancy.js";

/** Services any client may call without a key: operations tooling. */
export const PUBLIC_SERVICES: ReadonlySet<string> = new Set([
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
]);

/**
 * RPCs that may be called without a key, for a public MCP endpoint only: the
 * handler checks the request (`organization`, `project`, `mcp_slug`, live
 * target) and answers UNAUTHENTICATED to anything else without a caller.
 */
export const ANONYMOUS_METHODS: ReadonlySet<string> = new Set([
  "releases.v1.ReleaseService/ResolveToolset",
  "releases.v1.ReleaseService/WatchToolset",
]);

/** The answer to a call that needs a key and has none. */
export function missingKey(): ConnectError {
  return new ConnectError("missing authorization header: send `authorization: Bearer <key>`", Code.Unauthenticated);
}

/**
 * Authenticates `authorization: Bearer <key>` and stores the caller in the
 * context. RPCs marked `idempotency_level = NO_SIDE_EFFECTS` in the design are
 * reads and need the consumer scope; every other RPC writes and needs producer.
 */
export function authInterceptor(tenancy: Tenancy): Interceptor {
  return (next) => async (req) => {
    if (PUBLIC_SERVICES.has(req.service.typeName)) return next(req);
    const header = req.header.get("authorization");
    if (header === null) {
      if (ANONYMOUS_METHODS.has(`${req.service.typeName}/${req.method.name}`)) return next(req);
      throw missingKey();
    }
    const key = bearerKey(header);
    if (key === undefined || !API_KEY_PATTERN.test(key)) {
      throw new ConnectError("malformed authorization header: expected `Bearer tsr_…`", Code.Unauthenticated);
    }
    const caller = await tenancy.caller(key);
    if (!caller) throw new ConnectError("unknown or revoked API key", Code.Unauthenticated);
    if (!isRead(req.method) && caller.scope !== "producer") {
      throw new ConnectError(`${req.method.name} needs a key with the producer scope; this key has ${caller.scope}`, Code.PermissionDenied);
    }
    req.contextValues.set(callerKey, caller);
    return next(req);
  };
}

/** Whether the design marks an RPC as a read (`idempotency_level = NO_SIDE_EFFECTS`). */
export function isRead(method: { idempotency?: MethodOptions_IdempotencyLevel }): boolean {
  return method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS;
}

/** The key of an `authorization: Bearer <key>` header; undefined when there is none or it has another shape. */
export function bearerKey(header: string | null): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(header?.trim() ?? "")?.[1];
}
