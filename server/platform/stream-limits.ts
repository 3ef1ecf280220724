import { Code, type Interceptor } from "@connectrpc/connect";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { ERROR_REASONS, retryLater } from "./errors.js";
import { addressKey } from "./rate-limit.js";
import { currentRequest } from "./request-context.js";

/** The bounds of long-lived streams (MAX_STREAMS_PER_CLIENT, MAX_HEALTH_WATCHES). */
export interface StreamLimits {
  /** Open streaming calls one client address may hold. */
  maxPerClient: number;
  /** Open grpc.health.v1.Health/Watch streams in all: they need no key. */
  maxHealthWatches: number;
}

/** When a refused client may try again: by then some stream has likely ended (or it should go to another replica). */
const RETRY_AFTER_MS = 1_000;

/**
 * Bounds what streams cost a replica (each open stream holds buffers and a
 * handler: about 100 KB). A streaming call that would pass a bound is refused at
 * once, RESOURCE_EXHAUSTED with reason OVERLOADED (metadata `resource: streams`)
 * and a RetryInfo delay. A stream counts from the moment it is admitted until
 * its handler context ends, which connect-es signals however the stream ends
 * (done, failed, client gone, deadline, shutdown).
 */
export function streamLimitInterceptor(limits: StreamLimits): Interceptor {
  const perClient = new Map<string, number>();
  let healthWatches = 0;
  return (next) => async (req) => {
    if (!req.stream) return next(req);
    const client = addressKey(currentRequest()?.clientAddress ?? "unknown");
    const isHealthWatch = req.service.typeName === Health.typeName && req.method.name === Health.method.watch.name;
    const held = perClient.get(client) ?? 0;
    if (held >= limits.maxPerClient) {
      throw retryLater(
        `too many open streams from this client (${limits.maxPerClient}); close one or retry later`,
        Code.ResourceExhausted,
        RETRY_AFTER_MS,
        ERROR_REASONS.OVERLOADED,
        { resource: "streams" },
      );
    }
    if (isHealthWatch && healthWatches >= limits.maxHealthWatches) {
      throw retryLater(
        `too many open health Watch streams (${limits.maxHealthWatches}); use Check, or retry later`,
        Code.ResourceExhausted,
        RETRY_AFTER_MS,
        ERROR_REASONS.OVERLOADED,
        { resource: "streams" },
      );
    }
    perClient.set(client, held + 1);
    if (isHealthWatch) healthWatches++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = (perClient.get(client) ?? 1) - 1;
      if (left > 0) perClient.set(client, left);
      else perClient.delete(client);
      if (isHealthWatch) healthWatches--;
    };
    if (req.signal.aborted) release();
    else req.signal.addEventListener("abort", release, { once: true });
    try {
      return await next(req);
    } catch (err) {
      release();
      throw err;
    }
  };
}
