import { create } from "@bufbuild/protobuf";
import { KeyScope, ProjectSchema, type Project } from "../../gen/accounts/v1/accounts_pb.js";
import type { ApiKeyScope, ProjectRow } from "../db/database.js";
import { toTimestamp } from "../platform/mapping.js";

/** A project row as the API shows it. */
export function toProject(row: ProjectRow): Project {
  return create(ProjectSchema, { id: row.id, slug: row.slug, name: row.name, createdAt: toTimestamp(row.created_at) });
}

/** A key's stored scope as the enum. */
export function toKeyScope(scope: ApiKeyScope): KeyScope {
  switch (scope) {
    case "producer":
      return KeyScope.PRODUCER;
    case "consumer":
      return KeyScope.CONSUMER;
    default: {
      const never: never = scope;
      throw new Error(`unknown key scope ${String(never)}`);
    }
  }
}
