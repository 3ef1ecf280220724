import type { ServiceImpl } from "@connectrpc/connect";
import type { SourceService } from "../../gen/sources/v1/sources_pb.js";
import type { Deps } from "../app.js";
import { deploymentMethods } from "./deployments.js";
import { promptTemplateMethods } from "./prompt-templates.js";

/** sources.v1.SourceService. */
export function sourceService(deps: Deps): ServiceImpl<typeof SourceService> {
  return { ...deploymentMethods(deps), ...promptTemplateMethods(deps) };
}
