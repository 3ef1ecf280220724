import { Code, type ConnectError, type ContextValues, type Interceptor } from "@connectrpc/connect";
import { toConnectError } from "./errors.js";
import type { Logger } from "./logging.js";

/**
 * Outermost interceptor: maps every failure to a client-safe ConnectError (see
 * errors.ts) and writes one log line per RPC with procedure, code, duration and
 * caller id (`callerIdOf` reads it from what the interceptors inside this one
 * stored). Keys and request bodies are never logged.
 */
export function observeInterceptor(logger: Logger, callerIdOf: (values: ContextValues) => string | null): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const log = (err: ConnectError | undefined, cause?: unknown) => {
      const code = err ? Code[err.code] : "OK";
      const fields = {
        procedure: `/${req.service.typeName}/${req.method.name}`,
        protocol: req.requestMethod === "GET" ? "connect-get" : protocolOf(req.header.get("content-type")),
        code,
        duration_ms: Math.round((performance.now() - started) * 10) / 10,
        caller_id: callerIdOf(req.contextValues),
      };
      if (cause !== undefined) logger.error("rpc", { ...fields, cause });
      else logger.info("rpc", fields);
    };
    const fail = (err: unknown): never => {
      const { error, cause } = toConnectError(err);
      log(error, cause);
      throw error;
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
        message: (async function* () {
          try {
            yield* messages;
            log(undefined);
          } catch (err) {
            fail(err);
          }
        })(),
      };
    } catch (err) {
      return fail(err);
    }
  };
}

function protocolOf(contentType: string | null): string {
  if (contentType === null) return "unknown";
  if (contentType.startsWith("application/grpc-web")) return "grpc-web";
  if (contentType.startsWith("application/grpc")) return "grpc";
  if (contentType.startsWith("application/connect+")) return "connect-stream";
  return "connect";
}
