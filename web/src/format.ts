import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { ReleaseEventKind } from "../../gen/releases/v1/releases_pb.js";

/** A timestamp in the reader's locale; "—" when absent. */
export function when(ts: Timestamp | undefined): string {
  return ts ? timestampDate(ts).toLocaleString() : "—";
}

/** An ISO 8601 string for <time dateTime>. */
export function iso(ts: Timestamp | undefined): string | undefined {
  return ts ? timestampDate(ts).toISOString() : undefined;
}

/** "Release 3", or "none" for 0. */
export function releaseName(n: bigint): string {
  return n > 0n ? `Release ${n}` : "none";
}

export function eventKindName(kind: ReleaseEventKind): string {
  switch (kind) {
    case ReleaseEventKind.PUBLISHED:
      return "Published";
    case ReleaseEventKind.ROLLED_BACK:
      return "Rolled back";
    case ReleaseEventKind.MODE_SWITCHED:
      return "Mode switched";
    case ReleaseEventKind.UNSPECIFIED:
      return "Unknown";
  }
}
