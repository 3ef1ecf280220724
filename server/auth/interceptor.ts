import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import type { Kysely } from "kysely";
import type { Database } from "../db/database.js";
import { findActiveApiKey } from "../model/tenants.js";
import { API_KEY_PATTERN, hashApiKey } from "./keys.js";
import { callerKey } from "./caller.js";

/** Services any client may call without a key: operations tooling. */
export const PUBLIC_SERVICES: ReadonlySet<string> = new Set([
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
]);

/**
 * Authenticates `authorization: Bearer <key>` and stores the caller in the
 * context. RPCs marked `idempotency_level = NO_SIDE_EFFECTS` in the design are
 * reads and need the consumer scope; every other RPC writes and needs producer.
 */
export function authInterceptor(db: Kysely<Database>): Interceptor {
  return (next) => async (req) => {
    if (PUBLIC_SERVICES.has(req.service.typeName)) return next(req);
    const header = req.header.get("authorization");
    if (header === null) throw new ConnectError("missing authorization header: send `authorization: Bearer <key>`", Code.Unauthenticated);
    const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
    const key = match?.[1];
    if (key === undefined || !API_KEY_PATTERN.test(key)) {
      throw new ConnectError("malformed authorization header: expected `Bearer tsr_…`", Code.Unauthenticated);
    }
    const row = await findActiveApiKey(db, hashApiKey(key));
    if (!row) throw new ConnectError("unknown or revoked API key", Code.Unauthenticated);
    const readOnly = req.method.idempotency === MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS;
    if (!readOnly && row.scope !== "producer") {
      throw new ConnectError(`${req.method.name} needs a key with the producer scope; this key has ${row.scope}`, Code.PermissionDenied);
    }
    req.contextValues.set(callerKey, {
      keyId: row.id,
      keyName: row.name,
      organizationId: row.organization_id,
      projectId: row.project_id,
      scope: row.scope,
    });
    return next(req);
  };
}
