import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { DescService } from "@bufbuild/protobuf";
import { callerOf } from "../auth/caller.js";
import { resolveProject } from "../auth/project.js";
import type { Deps } from "../app.js";

/**
 * Handlers for RPCs of the design that a later issue implements. They still
 * authenticate and resolve the project, so tenancy behaves as it will, then answer
 * UNIMPLEMENTED naming the RPC. Each service spreads these under its real methods.
 */
export function unimplementedMethods<S extends DescService>(service: S, deps: Deps): ServiceImpl<S> {
  const impl: Record<string, (req: { project?: string }, ctx: HandlerContext) => Promise<never>> = {};
  for (const method of service.methods) {
    impl[method.localName] = async (req, ctx) => {
      await resolveProject(deps.db, callerOf(ctx), req.project ?? "");
      throw new ConnectError(`${service.typeName}/${method.name} is not implemented yet`, Code.Unimplemented);
    };
  }
  return impl as unknown as ServiceImpl<S>;
}
