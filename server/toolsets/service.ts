import type { ServiceImpl } from "@connectrpc/connect";
import type { ToolsetService } from "../../gen/toolsets/v1/toolsets_pb.js";
import type { Deps } from "../app.js";
import { toolsetCrudMethods } from "./crud.js";
import { modeMethods } from "./modes.js";
import { variationMethods } from "./variations.js";

/** toolsets.v1.ToolsetService. */
export function toolsetService(deps: Deps): ServiceImpl<typeof ToolsetService> {
  return { ...toolsetCrudMethods(deps), ...modeMethods(deps), ...variationMethods(deps) };
}
