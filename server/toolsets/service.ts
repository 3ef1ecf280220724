import type { ServiceImpl } from "@connectrpc/connect";
import { ToolsetService } from "../../gen/toolsets/v1/toolsets_pb.js";
import type { Deps } from "../app.js";
import { unimplementedMethods } from "../platform/unimplemented.js";
import { toolsetCrudMethods } from "./crud.js";
import { variationMethods } from "./variations.js";

/** toolsets.v1.ToolsetService. */
export function toolsetService(deps: Deps): ServiceImpl<typeof ToolsetService> {
  return { ...unimplementedMethods(ToolsetService, deps), ...toolsetCrudMethods(deps), ...variationMethods(deps) };
}
