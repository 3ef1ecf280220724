import type { ServiceImpl } from "@connectrpc/connect";
import type { ReleaseService } from "../../gen/releases/v1/releases_pb.js";
import type { ServiceContext } from "../context.js";
import { diffMethod } from "./diff-releases.js";
import { historyMethods } from "./history.js";
import { publishMethod } from "./publish.js";
import { resolveToolsetMethods } from "./resolve-toolset.js";
import { rollbackMethod } from "./rollback.js";

/** releases.v1.ReleaseService. */
export function releaseService(context: ServiceContext): ServiceImpl<typeof ReleaseService> {
  return {
    ...publishMethod(context),
    ...rollbackMethod(context),
    ...historyMethods(context),
    ...diffMethod(context),
    ...resolveToolsetMethods(context),
  };
}
