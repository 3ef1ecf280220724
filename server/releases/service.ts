import type { ServiceImpl } from "@connectrpc/connect";
import { ReleaseService } from "../../gen/releases/v1/releases_pb.js";
import type { Deps } from "../app.js";
import { unimplementedMethods } from "../platform/unimplemented.js";
import { resolveToolsetMethod } from "./resolve-toolset.js";

/** releases.v1.ReleaseService. */
export function releaseService(deps: Deps): ServiceImpl<typeof ReleaseService> {
  return { ...unimplementedMethods(ReleaseService, deps), ...resolveToolsetMethod(deps) };
}
