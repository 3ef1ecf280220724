import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/grpc/health/v1/health_pb.js";
import { SourceService } from "../../gen/sources/v1/sources_pb.js";
import { ToolsetService } from "../../gen/toolsets/v1/toolsets_pb.js";
import { ReleaseService } from "../../gen/releases/v1/releases_pb.js";
import { AccountService } from "../../gen/accounts/v1/accounts_pb.js";
import { quoteInput } from "./errors.js";
import type { HealthState } from "./health.js";

// "" asks about the whole server; the named services share its status.
const KNOWN = new Set(["", SourceService.typeName, ToolsetService.typeName, ReleaseService.typeName, AccountService.typeName, Health.typeName]);

/** grpc.health.v1.Health: SERVING until shutdown begins, then NOT_SERVING (and open Watch streams end). */
export function healthService(state: HealthState): ServiceImpl<typeof Health> {
  const status = (serving: boolean) => (serving ? Status.SERVING : Status.NOT_SERVING);
  return {
    check(req) {
      if (!KNOWN.has(req.service)) throw new ConnectError(`unknown service ${quoteInput(req.service)}`, Code.NotFound);
      return { status: status(state.isServing()) };
    },
    async *watch(req, ctx) {
      if (!KNOWN.has(req.service)) {
        yield { status: Status.SERVICE_UNKNOWN };
        return;
      }
      // NOT_SERVING is the last word: the stream ends with it, so that an open
      // Watch never holds up shutdown.
      for await (const serving of state.watch(ctx.signal)) {
        yield { status: status(serving) };
        if (!serving) return;
      }
    },
  };
}
