import type { ServiceImpl } from "@connectrpc/connect";
import { ToolsetService } from "../../gen/toolsets/v1/toolsets_pb.js";
import type { Deps } from "../app.js";
import { unimplementedMethods } from "../platform/unimplemented.js";

type VariationMethods = Pick<ServiceImpl<typeof ToolsetService>, "upsertToolVariation" | "listToolVariations" | "listToolVariationVersions" | "deleteToolVariation">;

/** The variation RPCs of ToolsetService. */
export function variationMethods(deps: Deps): VariationMethods {
  const u = unimplementedMethods(ToolsetService, deps);
  return {
    upsertToolVariation: u.upsertToolVariation,
    listToolVariations: u.listToolVariations,
    listToolVariationVersions: u.listToolVariationVersions,
    deleteToolVariation: u.deleteToolVariation,
  };
}
