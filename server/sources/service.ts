import type { ServiceImpl } from "@connectrpc/connect";
import { SourceService } from "../../gen/sources/v1/sources_pb.js";
import type { Deps } from "../app.js";
import { unimplementedMethods } from "../platform/unimplemented.js";

/** sources.v1.SourceService. */
export function sourceService(deps: Deps): ServiceImpl<typeof SourceService> {
  return { ...unimplementedMethods(SourceService, deps) };
}
