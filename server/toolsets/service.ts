import type { ServiceImpl } from "@connectrpc/connect";
import type { ToolsetService } from "../../gen/toolsets/v1/toolsets_pb.js";
import type { ServiceContext } from "../context.js";
import { toolsetCrudMethods } from "./crud.js";
import { modeMethods } from "./modes.js";
import { variationMethods } from "./variations.js";

/** toolsets.v1.ToolsetService. */
export function toolsetService(context: ServiceContext): ServiceImpl<typeof ToolsetService> {
  return { ...toolsetCrudMethods(context), ...modeMethods(context), ...variationMethods(context) };
}
