import { AsyncResource } from "node:async_hooks";
import { Code, ConnectError } from "@connectrpc/connect";
import { currentRequest, type RequestContext } from "./request-context.js";

// Made when this module loads, outside any request: running in its scope
// leaves whatever request context the caller had behind.
const root = new AsyncResource("toolsets.shared-work");

/**
 * Runs `fn`, and everything it starts, outside the current request: for work
 * that several requests share (one fill of the served state, one watch topic's
 * reload) and that must not inherit the deadline or cancellation of whichever
 * request happened to start it (see platform/request-context.ts, which the
 * database layer obeys). Such work is bounded by the database's own timeouts;
 * each caller waits for it with {@link untilRequestEnds}.
 */
export function sharedWork<T>(fn: () => T): T {
  return root.runInAsyncScope(fn);
}

/**
 * `work` as the current request waits for it: settled as `work` is, or
 * rejected once the request ends (its deadline passes: DEADLINE_EXCEEDED; its
 * client goes away: CANCELED), while the work itself goes on for whoever else
 * waits for it. Outside a request, `work` itself.
 */
export function untilRequestEnds<T>(work: Promise<T>): Promise<T> {
  const request = currentRequest();
  if (!request) return work;
  if (isEnded(request)) {
    work.catch(() => undefined);
    return Promise.reject(requestEnded(request));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(requestEnded(request));
    request.signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        request.signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        request.signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

/** Whether `request` has ended: its client went away or its deadline passed (even if the deadline's timer has not fired yet). */
export function isEnded(request: RequestContext): boolean {
  return request.signal.aborted || (request.deadline !== undefined && performance.now() >= request.deadline);
}

/** Why work for an ended request stops: DEADLINE_EXCEEDED when its deadline passed, else CANCELED (the client went away). */
export function requestEnded(request: RequestContext): ConnectError {
  const reason: unknown = request.signal.reason;
  if (reason instanceof ConnectError && reason.code === Code.DeadlineExceeded) return reason;
  if (request.deadline !== undefined && performance.now() >= request.deadline) return new ConnectError("the deadline passed", Code.DeadlineExceeded);
  return new ConnectError("the client went away", Code.Canceled);
}
