import type { ServiceImpl } from "@connectrpc/connect";
import type { SourceService } from "../../gen/sources/v1/sources_pb.js";
import type { ServiceContext } from "../context.js";
import { deploymentMethods } from "./deployments.js";
import { promptTemplateMethods } from "./prompt-templates.js";

/** sources.v1.SourceService. */
export function sourceService(context: ServiceContext): ServiceImpl<typeof SourceService> {
  return { ...deploymentMethods(context), ...promptTemplateMethods(context) };
}
