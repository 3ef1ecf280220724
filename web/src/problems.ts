import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";

/** A failed call, in words a person can act on. */
export interface Problem {
  /** One or two sentences for the whole form or screen. */
  message: string;
  /** Field violations by request path (e.g. `fields.mcp_slug`), to show next to their field. */
  fields: Record<string, string>;
  code: Code | undefined;
  /** The `google.rpc.ErrorInfo` reason, when the server sent one. */
  reason: string | undefined;
}

/** How long to wait, in whole seconds, from a RetryInfo detail; undefined without one. */
function retrySeconds(err: ConnectError): number | undefined {
  const [info] = err.findDetails(RetryInfoSchema);
  const delay = info?.retryDelay;
  if (!delay) return undefined;
  return Math.max(1, Math.ceil(Number(delay.seconds) + delay.nanos / 1e9));
}

function again(err: ConnectError, fallback: string): string {
  const s = retrySeconds(err);
  return s === undefined ? fallback : `Try again in ${s} second${s === 1 ? "" : "s"}.`;
}

/** Sentences for the ErrorInfo reasons the service sends (README, "Error reasons"). */
function reasonMessage(reason: string, metadata: Record<string, string>, err: ConnectError): string | undefined {
  switch (reason) {
    case "NOTHING_TO_PUBLISH":
      return "There is nothing to publish: the staging copy serves exactly what the current release serves.";
    case "FEATURE_NOT_ENABLED":
      return `Staging mode is not enabled for this organization${metadata.feature ? ` (feature “${metadata.feature}”)` : ""}. Ask an administrator to enable it.`;
    case "UNPUBLISHED_CHANGES":
      return "The staging copy has changes that were never published. Publish them first, or discard them to switch back to iteration mode.";
    case "STAGING_MODE_REQUIRED":
      return "This toolset is in iteration mode: switch it to staging mode first.";
    case "LIVE_TOOLSET_PINNED":
      return "This toolset is in staging mode, so its live version only changes by publishing: edit the staging copy instead.";
    case "STAGING_COPY_MISSING":
      return "This toolset has no staging copy. Create one to edit and publish.";
    case "VERSION_CONFLICT":
      return "Someone else changed this toolset while you were editing. The fields you did not touch now show their values; save again to apply yours.";
    case "CONCURRENT_UPDATE":
      return "Another change was saved at the same moment. Try again.";
    case "RATE_LIMITED":
      return `Too many requests with this key. ${again(err, "Try again in a moment.")}`;
    case "OVERLOADED":
      return `The service is busy. ${again(err, "Try again in a moment.")}`;
    case "LOCK_TIMEOUT":
      return `Another change to this toolset is being saved. ${again(err, "Try again in a moment.")}`;
    case "ALREADY_EXISTS":
      switch (metadata.entity) {
        case "mcp_slug":
          return "Another toolset of this project already uses this MCP slug.";
        case "staging_copy":
          return "This toolset already has a staging copy.";
        case "toolset":
          return "A toolset with this slug already exists in the project.";
        default:
          return metadata.entity ? `This ${metadata.entity.replaceAll("_", " ")} already exists.` : "It already exists.";
      }
    case "REFERENCE_CONFLICT":
      return "This change refers to something that no longer exists, or removes something still in use.";
    default:
      return undefined;
  }
}

function codeMessage(err: ConnectError): string {
  switch (err.code) {
    case Code.Unauthenticated:
      return "This API key was not accepted: it may be mistyped or revoked. Sign in again with a valid key.";
    case Code.PermissionDenied:
      return "This key may not do that: it needs the producer scope, or access to this project.";
    case Code.NotFound:
      return `Not found: it may have been deleted. (${err.rawMessage})`;
    case Code.InvalidArgument:
      return sentence(err.rawMessage);
    case Code.Unavailable:
      return "The service cannot be reached right now. Check the connection and try again.";
    case Code.DeadlineExceeded:
      return "The service took too long to answer. Try again.";
    case Code.ResourceExhausted:
      return `The request is too large or too frequent. ${again(err, "Try again in a moment.")}`;
    case Code.Canceled:
      return "The request was cancelled.";
    case Code.FailedPrecondition:
    case Code.Aborted:
    case Code.AlreadyExists:
      return sentence(err.rawMessage);
    default: {
      const id = err.metadata.get("x-request-id");
      return `Something went wrong on the server.${id ? ` Quote request id ${id} when you report it.` : ""}`;
    }
  }
}

/** The server's message as a sentence: capitalised, ending with a full stop. */
function sentence(text: string): string {
  const t = text.trim();
  if (t === "") return "The request was refused.";
  const s = t[0]!.toUpperCase() + t.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

/** Turns anything a call threw into a {@link Problem}; details win over codes, codes over text. */
export function describeProblem(err: unknown): Problem {
  const e = ConnectError.from(err);
  const fields: Record<string, string> = {};
  for (const bad of e.findDetails(BadRequestSchema)) {
    for (const v of bad.fieldViolations) fields[v.field] = sentence(v.description);
  }
  const [info] = e.findDetails(ErrorInfoSchema);
  const reason = info?.reason || undefined;
  const byReason = reason === undefined ? undefined : reasonMessage(reason, info?.metadata ?? {}, e);
  let message = byReason ?? codeMessage(e);
  if (Object.keys(fields).length > 0 && byReason === undefined) message = "Some fields need attention: see the messages next to them.";
  // A fetch that never reached the service (offline, DNS, a proxy's reset) has no request id.
  if (e.code === Code.Unknown && e.metadata.get("x-request-id") === null) {
    message = "The service cannot be reached right now. Check the connection and try again.";
  }
  return { message, fields, code: e.code, reason };
}

/** The violation of `path` or of an element below it (`tool_urns[2]`, `scope.toolset_slug`); undefined when none. */
export function fieldProblem(problem: Problem | undefined, path: string): string | undefined {
  if (!problem) return undefined;
  for (const [field, text] of Object.entries(problem.fields)) {
    if (covers(path, field)) return text;
  }
  return undefined;
}

/** The violations of `problem` that no path in `placed` (nor a path below one) shows next to a field. */
export function unplacedFields(problem: Problem, placed: readonly string[]): [string, string][] {
  return Object.entries(problem.fields).filter(([field]) => !placed.some((p) => covers(p, field)));
}

/** Whether a violation of `field` belongs to `path`: the path itself or an element or field below it. */
function covers(path: string, field: string): boolean {
  return field === path || field.startsWith(`${path}[`) || field.startsWith(`${path}.`);
}
