import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { iso, when } from "../format.js";

export function Time({ ts }: { ts: Timestamp | undefined }) {
  return <time dateTime={iso(ts)}>{when(ts)}</time>;
}
