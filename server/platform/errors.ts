import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";

/** The kinds of failure a query or domain function may report. */
export type DomainErrorKind =
  "invalid_argument" | "not_found" | "already_exists" | "failed_precondition" | "aborted" | "permission_denied" | "resource_exhausted";

/**
 * The stable reasons sent as `google.rpc.ErrorInfo.reason` (domain
 * {@link ERROR_DOMAIN}) with FAILED_PRECONDITION, ABORTED and ALREADY_EXISTS.
 * Clients branch on these, never on message text; the README lists them. Adding
 * one is compatible, renaming or removing one is a breaking change.
 */
export const ERROR_REASONS = {
  /** The toolset is in iteration mode; the operation needs staging mode. */
  STAGING_MODE_REQUIRED: "STAGING_MODE_REQUIRED",
  /** An edit addressed the live toolset of a toolset in staging mode: edit the staging copy. */
  LIVE_TOOLSET_PINNED: "LIVE_TOOLSET_PINNED",
  /** The toolset in staging mode has no staging copy to publish or edit. */
  STAGING_COPY_MISSING: "STAGING_COPY_MISSING",
  /** The staging copy resolves to what the current release serves. */
  NOTHING_TO_PUBLISH: "NOTHING_TO_PUBLISH",
  /** Leaving staging mode would lose unpublished changes (set discard_staging). */
  UNPUBLISHED_CHANGES: "UNPUBLISHED_CHANGES",
  /** The organization lacks a feature the operation needs (metadata `feature`). */
  FEATURE_NOT_ENABLED: "FEATURE_NOT_ENABLED",
  /** `expected_version` differs from the entity's version: read it again and retry. */
  VERSION_CONFLICT: "VERSION_CONFLICT",
  /** A concurrent transaction won; the same request may simply be retried. */
  CONCURRENT_UPDATE: "CONCURRENT_UPDATE",
  /** A per-key or per-address rate limit refused the call: retry after the RetryInfo delay (metadata `limit`: read, write, anonymous). */
  RATE_LIMITED: "RATE_LIMITED",
  /** The replica is at a bound of concurrent work (metadata `resource`): retry after the RetryInfo delay, or on another replica. */
  OVERLOADED: "OVERLOADED",
  /** A row lock was not granted within DB_LOCK_TIMEOUT_MS: another write holds it; retry after the RetryInfo delay. */
  LOCK_TIMEOUT: "LOCK_TIMEOUT",
  /** The entity already exists (metadata `entity`: toolset, staging_copy, mcp_slug, organization, project, …). */
  ALREADY_EXISTS: "ALREADY_EXISTS",
  /** The write references an entity that does not exist, or removes one still referenced. */
  REFERENCE_CONFLICT: "REFERENCE_CONFLICT",
} as const;

/** One of {@link ERROR_REASONS}. */
export type ErrorReason = (typeof ERROR_REASONS)[keyof typeof ERROR_REASONS];

/** `google.rpc.ErrorInfo.domain` of every reason this service sends. */
export const ERROR_DOMAIN = "toolset-release-service";

/** The kinds that always carry an ErrorInfo reason. */
type ReasonKind = "already_exists" | "failed_precondition" | "aborted";

/** What a domain error tells a client beyond its code and message. */
export interface DomainErrorDetail {
  /** The request field at fault, as a proto field path (`tool_urns[2]`). */
  field?: string;
  /** The stable reason, for the kinds that carry one. */
  reason?: ErrorReason;
  /** Context for the reason (never secrets): e.g. `{ entity: "toolset" }`. */
  metadata?: Record<string, string>;
}

/**
 * An expected failure, thrown by queries and domain code (never a ConnectError,
 * which only handlers and interceptors create). Its message is safe to show.
 */
export class DomainError extends Error {
  readonly kind: DomainErrorKind;
  readonly detail: DomainErrorDetail;

  /** The kinds a client branches on must say why: their reason is required. */
  constructor(kind: ReasonKind, message: string, detail: DomainErrorDetail & { reason: ErrorReason });
  constructor(kind: Exclude<DomainErrorKind, ReasonKind>, message: string, detail?: DomainErrorDetail);
  constructor(kind: DomainErrorKind, message: string, detail: DomainErrorDetail = {}) {
    super(message);
    this.name = "DomainError";
    this.kind = kind;
    this.detail = detail;
  }

  /** The request field at fault, if any. */
  get field(): string | undefined {
    return this.detail.field;
  }
}

/** A request field that breaks a rule: the message names both. */
export function invalidArgument(field: string, rule: string): DomainError {
  return new DomainError("invalid_argument", `${field}: ${rule}`, { field });
}

/** A named entity that does not exist (or is not visible to the caller). */
export function notFound(message: string): DomainError {
  return new DomainError("not_found", message);
}

/** The entity is in a state the operation does not accept. */
export function failedPrecondition(reason: ErrorReason, message: string, metadata?: Record<string, string>): DomainError {
  return new DomainError("failed_precondition", message, { reason, ...(metadata && { metadata }) });
}

/** A conflict with a concurrent change: read again and retry. */
export function aborted(reason: ErrorReason, message: string, metadata?: Record<string, string>): DomainError {
  return new DomainError("aborted", message, { reason, ...(metadata && { metadata }) });
}

/** The entity the request would create exists; `entity` names what it is. */
export function alreadyExists(entity: string, message: string): DomainError {
  return new DomainError("already_exists", message, { reason: ERROR_REASONS.ALREADY_EXISTS, metadata: { entity } });
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

/** Codes whose errors always carry an ErrorInfo reason. */
const REASON_CODES = new Set([Code.FailedPrecondition, Code.Aborted, Code.AlreadyExists]);

/** The reason sent when a failure of a reason-carrying code has none of its own (SQLSTATE mappings). */
const DEFAULT_REASONS: Partial<Record<Code, ErrorReason>> = {
  [Code.FailedPrecondition]: ERROR_REASONS.REFERENCE_CONFLICT,
  [Code.Aborted]: ERROR_REASONS.CONCURRENT_UPDATE,
  [Code.AlreadyExists]: ERROR_REASONS.ALREADY_EXISTS,
};

type Detail = { desc: DescMessage; value: MessageInitShape<DescMessage> };

/**
 * A ConnectError with the structured details a client can act on: a
 * `google.rpc.BadRequest` field violation for INVALID_ARGUMENT with a known
 * field, and a `google.rpc.ErrorInfo` for FAILED_PRECONDITION, ABORTED and
 * ALREADY_EXISTS. Details travel on every protocol (Connect JSON and binary,
 * gRPC's `grpc-status-details-bin`, gRPC-Web).
 */
export function detailedError(message: string, code: Code, detail: DomainErrorDetail = {}): ConnectError {
  message = capped(message);
  const details: Detail[] = [];
  if (code === Code.InvalidArgument && detail.field !== undefined) {
    const description = message.startsWith(`${detail.field}: `) ? message.slice(detail.field.length + 2) : message;
    details.push({ desc: BadRequestSchema, value: create(BadRequestSchema, { fieldViolations: [{ field: detail.field, description }] }) });
  }
  const reason = detail.reason ?? DEFAULT_REASONS[code];
  if (REASON_CODES.has(code) && reason !== undefined) {
    details.push({ desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason, domain: ERROR_DOMAIN, metadata: detail.metadata ?? {} }) });
  }
  return new ConnectError(message, code, undefined, details);
}

/**
 * The longest error message sent. gRPC carries it in a header (`grpc-message`,
 * and again in `grpc-status-details-bin`): past 8 KiB grpc-java cannot read the
 * answer, past 64 KiB neither can Node's client. A message names the field at
 * fault; when it quotes the input, it quotes it with {@link quoteInput}.
 */
const MAX_MESSAGE_CHARS = 1024;

/** `message`, cut to {@link MAX_MESSAGE_CHARS} at a code point (a lone surrogate cannot be percent-encoded for gRPC). */
export function capped(message: string): string {
  if (message.length <= MAX_MESSAGE_CHARS) return message;
  let end = MAX_MESSAGE_CHARS - 14;
  if (/[\uD800-\uDBFF]/.test(message.charAt(end - 1))) end--;
  return `${message.slice(0, end)}… (truncated)`;
}

/** A client's string as an error message may quote it: JSON-quoted, at most 200 characters of it. */
export function quoteInput(value: string): string {
  if (value.length <= 200) return JSON.stringify(value);
  const end = /[\uD800-\uDBFF]/.test(value.charAt(199)) ? 199 : 200;
  return `${JSON.stringify(value.slice(0, end))}… (${value.length} characters)`;
}

/**
 * A refusal the client should retry later: RESOURCE_EXHAUSTED (rate limits,
 * overload), ABORTED or UNAVAILABLE, with a `google.rpc.RetryInfo` whose
 * `retry_delay` says when, and an ErrorInfo reason (with `metadata`) to branch on.
 */
export function retryLater(
  message: string,
  code: Code,
  retryAfterMs: number,
  reason: ErrorReason,
  metadata: Record<string, string> = {},
): ConnectError {
  return new ConnectError(message, code, undefined, [
    { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason, domain: ERROR_DOMAIN, metadata }) },
    { desc: RetryInfoSchema, value: create(RetryInfoSchema, { retryDelay: durationFromMs(Math.max(0, Math.ceil(retryAfterMs))) }) },
  ]);
}

/** The RetryInfo delay of a LOCK_TIMEOUT refusal. */
const LOCK_RETRY_MS = 1_000;

/**
 * The one place that turns any thrown value into what a client may see: domain
 * errors keep their message and details; SQLSTATEs map to codes with generic
 * messages (never SQL, constraint names or stacks); anything else is an internal
 * error. The second value is the cause worth logging, if any.
 */
export function toConnectError(err: unknown): { error: ConnectError; cause?: unknown } {
  if (err instanceof ConnectError) {
    if (err.rawMessage.length <= MAX_MESSAGE_CHARS) return { error: err };
    const copy = new ConnectError(capped(err.rawMessage), err.code, err.metadata, undefined, err.cause);
    copy.details = err.details;
    return { error: copy };
  }
  if (err instanceof DomainError) return { error: detailedError(err.message, DOMAIN_CODES[err.kind], err.detail) };
  const state = sqlState(err);
  if (state !== undefined) {
    if (state === "23505") return { error: detailedError("already exists", Code.AlreadyExists), cause: err };
    if (state === "23503")
      return { error: detailedError("a referenced entity does not exist or is still in use", Code.FailedPrecondition), cause: err };
    if (state === "23514" || state === "23502" || state.startsWith("22")) {
      return { error: new ConnectError("a value is out of the allowed range", Code.InvalidArgument), cause: err };
    }
    if (isRetryableSqlState(state)) return { error: detailedError("concurrent update, try again", Code.Aborted), cause: err };
    if (state === "55P03") {
      // lock_timeout (DB_LOCK_TIMEOUT_MS): another transaction holds the row; by the RetryInfo delay it has likely let go.
      return {
        error: retryLater("another transaction holds a lock this call needs; try again", Code.Aborted, LOCK_RETRY_MS, ERROR_REASONS.LOCK_TIMEOUT),
        cause: err,
      };
    }
    if (state === "57014") return { error: new ConnectError("the operation timed out", Code.DeadlineExceeded), cause: err };
    if (state.startsWith("08") || state === "57P01" || state === "57P02" || state === "57P03" || state === "53300") {
      return { error: new ConnectError("database unavailable", Code.Unavailable), cause: err };
    }
  }
  if (isConnectionFailure(err)) return { error: new ConnectError("database unavailable", Code.Unavailable), cause: err };
  return { error: new ConnectError("internal error", Code.Internal), cause: err };
}
