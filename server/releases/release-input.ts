import { Target, type ReleaseRef } from "../../gen/releases/v1/releases_pb.js";
import { invalidArgument } from "../platform/errors.js";
import type { TargetRef } from "../resolve/targets.js";

/** Reads an API target (and release number) as a TargetRef; `field` names the request field in errors. */
export function parseTarget(field: string, target: Target, releaseNumber: bigint): TargetRef {
  if (releaseNumber < 0n) throw invalidArgument(`${field}release_number`, "must not be negative");
  if (releaseNumber > 0n) {
    if (target !== Target.UNSPECIFIED) throw invalidArgument(`${field}target`, "give either target or release_number, not both");
    return { kind: "release", number: releaseNumber };
  }
  switch (target) {
    case Target.UNSPECIFIED:
    case Target.LIVE:
      return { kind: "live" };
    case Target.STAGING:
      return { kind: "staging" };
    default:
      throw invalidArgument(`${field}target`, "must be TARGET_LIVE or TARGET_STAGING");
  }
}

/** A DiffReleases side: a release number (at least 1) or a target. */
export function parseRef(field: string, ref: ReleaseRef | undefined): TargetRef {
  switch (ref?.ref.case) {
    case "releaseNumber":
      if (ref.ref.value < 1n) throw invalidArgument(`${field}.release_number`, "must be at least 1");
      return parseTarget(`${field}.`, Target.UNSPECIFIED, ref.ref.value);
    case "target":
      return parseTarget(`${field}.`, ref.ref.value, 0n);
    default:
      throw invalidArgument(field, "required: set release_number or target");
  }
}
