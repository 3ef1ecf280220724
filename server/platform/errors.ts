import { Code, ConnectError } from "@connectrpc/connect";

/** The kinds of failure a query or domain function may report. */
export type DomainErrorKind =
  | "invalid_argument"
  | "not_found"
  | "already_exists"
  | "failed_precondition"
  | "aborted"
  | "permission_denied"
  | "resource_exhausted";

/**
 * An expected failure, thrown by queries and domain code (never a ConnectError,
 * which only handlers and interceptors create). Its message is safe to show.
 */
export class DomainError extends Error {
  constructor(
    readonly kind: DomainErrorKind,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "DomainError";
  }
}

/** A request field that breaks a rule: the message names both. */
export function invalidArgument(field: string, rule: string): DomainError {
  return new DomainError("invalid_argument", `${field}: ${rule}`, field);
}

/** A named entity that does not exist (or is not visible to the caller). */
export function notFound(message: string): DomainError {
  return new DomainError("not_found", message);
}

const DOMAIN_CODES: Record<DomainErrorKind, Code> = {
  invalid_argument: Code.InvalidArgument,
  not_found: Code.NotFound,
  already_exists: Code.AlreadyExists,
  failed_precondition: Code.FailedPrecondition,
  aborted: Code.Aborted,
  permission_denied: Code.PermissionDenied,
  resource_exhausted: Code.ResourceExhausted,
};

/** SQLSTATEs that mean "try the transaction again". */
export function isRetryableSqlState(code: string | undefined): boolean {
  return code === "40001" || code === "40P01";
}

function sqlState(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string") {
    return /^[0-9A-Z]{5}$/.test(err.code) ? err.code : undefined;
  }
  return undefined;
}

function isConnectionFailure(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const code = "code" in err ? String(err.code) : "";
  if (["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH"].includes(code)) return true;
  const msg = err instanceof Error ? err.message : "";
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(msg);
}

/**
 * The one place that turns any thrown value into what a client may see: domain
 * errors keep their message; SQLSTATEs map to codes with generic messages (never
 * SQL, constraint names or stacks); anything else is an internal error. The
 * second value is the cause worth logging, if any.
 */
export function toConnectError(err: unknown): { error: ConnectError; cause?: unknown } {
  if (err instanceof ConnectError) return { error: err };
  if (err instanceof DomainError) return { error: new ConnectError(err.message, DOMAIN_CODES[err.kind]) };
  const state = sqlState(err);
  if (state !== undefined) {
    if (state === "23505") return { error: new ConnectError("already exists", Code.AlreadyExists), cause: err };
    if (state === "23503") return { error: new ConnectError("a referenced entity does not exist or is still in use", Code.FailedPrecondition), cause: err };
    if (state === "23514" || state === "23502" || state.startsWith("22")) {
      return { error: new ConnectError("a value is out of the allowed range", Code.InvalidArgument), cause: err };
    }
    if (isRetryableSqlState(state)) return { error: new ConnectError("concurrent update, try again", Code.Aborted), cause: err };
    if (state === "57014") return { error: new ConnectError("the operation timed out", Code.DeadlineExceeded), cause: err };
    if (state.startsWith("08") || state === "57P01" || state === "57P02" || state === "57P03" || state === "53300") {
      return { error: new ConnectError("database unavailable", Code.Unavailable), cause: err };
    }
  }
  if (isConnectionFailure(err)) return { error: new ConnectError("database unavailable", Code.Unavailable), cause: err };
  return { error: new ConnectError("internal error", Code.Internal), cause: err };
}
