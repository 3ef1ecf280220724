import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextKey, type ContextValues, type Interceptor } from "@connectrpc/connect";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { API_KEY_PATTERN } from "./keys.js";
import { callerKey, type Caller } from "./caller.js";
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
 * Who the `authorization: Bearer <key>` header of a call to `method` stands
 * for: undefined for an operations service, or for a call without a key to an
 * RPC that allows one (ANONYMOUS_METHODS; its handler checks the rest). Throws
 * UNAUTHENTICATED for a missing, malformed, unknown or revoked key, and
 * PERMISSION_DENIED when a write comes with a consumer key. RPCs marked
 * `idempotency_level = NO_SIDE_EFFECTS` in the design are reads and need the
 * consumer scope; every other RPC writes and needs producer. It reads nothing
 * but the header (the key lookup is served from memory at steady state), so it
 * runs before the request body is read.
 */
export async function authenticate(tenancy: Tenancy, method: DescMethod, header: Headers): Promise<Caller | undefined> {
  if (PUBLIC_SERVICES.has(method.parent.typeName)) return undefined;
  const authorization = header.get("authorization");
  if (authorization === null) {
    if (ANONYMOUS_METHODS.has(`${method.parent.typeName}/${method.name}`)) return undefined;
    throw missingKey();
  }
  const key = bearerKey(authorization);
  if (key === undefined || !API_KEY_PATTERN.test(key)) {
    throw new ConnectError("malformed authorization header: expected `Bearer tsr_…`", Code.Unauthenticated);
  }
  const caller = await tenancy.caller(key);
  if (!caller) throw new ConnectError("unknown or revoked API key", Code.Unauthenticated);
  if (!isRead(method) && caller.scope !== "producer") {
    throw new ConnectError(`${method.name} needs a key with the producer scope; this key has ${caller.scope}`, Code.PermissionDenied);
  }
  return caller;
}

/** Set once a request was authenticated before its body was read, so the interceptor does not look the key up again. */
const authenticatedKey = createContextKey(false, { description: "authenticated before decoding" });

/**
 * {@link authenticate} as the RPC handler's `admit` step, before the body is
 * read: an unauthenticated multi-megabyte body is refused without being
 * decoded. Stores the caller for the interceptors and handlers.
 */
export function admitCaller(tenancy: Tenancy): (method: DescMethod, header: Headers, values: ContextValues) => Promise<void> {
  return async (method, header, values) => {
    const caller = await authenticate(tenancy, method, header);
    if (caller) values.set(callerKey, caller);
    values.set(authenticatedKey, true);
  };
}

/**
 * Authenticates a call the RPC handler did not admit already (one served
 * without {@link admitCaller}) and stores the caller in the context.
 */
export function authInterceptor(tenancy: Tenancy): Interceptor {
  return (next) => async (req) => {
    if (!req.contextValues.get(authenticatedKey)) {
      const caller = await authenticate(tenancy, req.method, req.header);
      if (caller) req.contextValues.set(callerKey, caller);
    }
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
