import { Code, ConnectError, type ContextValues, type Interceptor } from "@connectrpc/connect";
import { protocolOf } from "./edge-admission.js";
import { toConnectError } from "./errors.js";
import type { Logger } from "./logging.js";
import { codeName, type Metrics } from "./metrics.js";
import { currentRequest, runInRequest, type RequestContext } from "./request-context.js";

/**
 * Outermost interceptor: maps every failure to a client-safe ConnectError (see
 * errors.ts) and writes one log line per RPC with procedure, code, duration and
 * caller id (`callerIdOf` reads it from what the interceptors inside this one
 * stored); the logger adds the request id. Keys and request bodies are never
 * logged. It reports each RPC to `metrics`. It marks the request observed as
 * soon as it takes it, so the RPC handler does not log it too, even when the
 * client leaves before the line is written (a stream the client abandons is
 * logged here as CANCELED).
 */
export function observeInterceptor(
  logger: Logger,
  callerIdOf: (values: ContextValues) => string | null,
  metrics?: Pick<Metrics, "rpcEnded">,
): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const request = currentRequest();
    const procedure = `/${req.service.typeName}/${req.method.name}`;
    const unary = req.method.methodKind === "unary";
    if (request) request.marks.observed = true;
    const log = (err: ConnectError | undefined, cause?: unknown) => {
      const seconds = (performance.now() - started) / 1000;
      const fields = {
        procedure,
        protocol: protocolOf(req.requestMethod, req.header.get("content-type")),
        code: codeName(err),
        duration_ms: Math.round(seconds * 10_000) / 10,
        caller_id: callerIdOf(req.contextValues),
      };
      if (cause !== undefined) logger.error("rpc", { ...fields, cause });
      else logger.info("rpc", fields);
      metrics?.rpcEnded(procedure, err, unary ? seconds : undefined);
    };
    const fail = (err: unknown): never => {
      const { error, cause } = toConnectError(err);
      const sent = withRequestId(error, request);
      log(sent, cause);
      throw sent;
    };
    try {
      const res = await next(req);
      if (!res.stream) {
        log(undefined);
        return res;
      }
      const messages = res.message;
      return {
        ...res,
        message: inRequest(
          request,
          (async function* () {
            let ended = false;
            try {
              yield* messages;
              ended = true;
              // A handler that ends its stream because the client left (a health Watch does) did not succeed.
              log(request?.signal.aborted ? clientGone(request.signal.reason) : undefined);
            } catch (err) {
              ended = true;
              fail(err);
            } finally {
              // The protocol layer stopped pulling: the client went away mid-stream.
              if (!ended) log(clientGone(undefined));
            }
          })(),
        ),
      };
    } catch (err) {
      return fail(err);
    }
  };
}

/**
 * A stream's messages are pulled by the protocol layer after the RPC handler's
 * promise has resolved, outside the request's async context: each step runs in
 * it again, so what the handler logs while streaming, and the final line, carry
 * the request id.
 */
function inRequest<T>(request: RequestContext | undefined, messages: AsyncGenerator<T>): AsyncIterable<T> {
  if (!request) return messages;
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => runInRequest(request, () => messages.next()),
      return: (value?: unknown) => runInRequest(request, () => messages.return(value as T)),
      throw: (err?: unknown) => runInRequest(request, () => messages.throw(err)),
    }),
  };
}

/** Codes that mean the fault is the server's: their message names the request id, for the user to quote. */
const SERVER_FAULTS = new Set([Code.Internal, Code.Unknown, Code.DataLoss]);

/**
 * `internal error` becomes `internal error (request id …)`, for the codes that
 * mean a fault of the server (INTERNAL, UNKNOWN, DATA_LOSS), so a user can quote
 * it; details, metadata and cause are kept. For any error sent to a client:
 * the RPC handler applies it to what it answers before the interceptors.
 */
export function withRequestId(error: ConnectError, request: RequestContext | undefined): ConnectError {
  const id = request?.requestId;
  if (id === undefined || !SERVER_FAULTS.has(error.code) || error.rawMessage.includes(id)) return error;
  const quoted = new ConnectError(`${error.rawMessage} (request id ${id})`, error.code, error.metadata, undefined, error.cause);
  quoted.details = error.details;
  return quoted;
}

/** How a stream the client abandoned ended: its deadline's DEADLINE_EXCEEDED, else CANCELED. */
function clientGone(reason: unknown): ConnectError {
  return reason instanceof ConnectError ? reason : new ConnectError("the client went away", Code.Canceled);
}
