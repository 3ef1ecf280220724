import { UUID } from "../platform/validate.js";

/** The PostgreSQL channel the change-feed triggers (migration 0005) notify on. */
export const CHANGE_CHANNEL = "toolset_changes";

/** Fields every change carries. */
interface ChangeBase {
  /** The organization the change belongs to; never absent. */
  organizationId: string;
  /** When the writing transaction started, in milliseconds since the epoch; the same for all notices of one transaction. */
  at: number;
}

/** An organization row changed (features, deletion, slug…): everything of the organization is suspect. */
export interface OrganizationChange extends ChangeBase {
  scope: "organization";
}

/** A project row changed (created, renamed, deleted). */
export interface ProjectChange extends ChangeBase {
  scope: "project";
  projectId: string;
}

/** An API key was created, revoked or deleted. */
export interface KeyChange extends ChangeBase {
  scope: "key";
  keyId: string;
}

/** Project-wide sources changed: deployments, tool definitions, prompt templates, the project's global variations. */
export interface SourcesChange extends ChangeBase {
  scope: "sources";
  projectId: string;
}

/** A toolset or anything of it changed: its row, its staging copy, versions, variations, releases, events. */
export interface ToolsetChange extends ChangeBase {
  scope: "toolset";
  projectId: string;
  /** The live toolset (a change to a staging copy names its live toolset). */
  toolsetId: string;
}

/** One notice of the change feed, by scope. */
export type Change = OrganizationChange | ProjectChange | KeyChange | SourcesChange | ToolsetChange;

/** The scopes of a Change. */
export type ChangeScope = Change["scope"];

/**
 * Reads a notice payload (`{"s":"toolset","o":…,"p":…,"t":…,"at":…}`). Strict:
 * undefined for anything that is not JSON, names an unknown scope, lacks an id
 * its scope needs, has an id that is not a UUID, or an `at` that is not a
 * non-negative finite number. Fields a scope does not use are ignored.
 */
export function parseChange(payload: string): Change | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined;
  const fields = raw as Record<string, unknown>;
  const id = (name: string): string | undefined => {
    const value = fields[name];
    return typeof value === "string" && UUID.test(value) ? value : undefined;
  };
  const organizationId = id("o");
  const at = fields["at"];
  if (organizationId === undefined || typeof at !== "number" || !Number.isFinite(at) || at < 0) return undefined;
  const projectId = id("p");
  switch (fields["s"]) {
    case "organization":
      return { scope: "organization", organizationId, at };
    case "project":
      return projectId === undefined ? undefined : { scope: "project", organizationId, projectId, at };
    case "key": {
      const keyId = id("k");
      return keyId === undefined ? undefined : { scope: "key", organizationId, keyId, at };
    }
    case "sources":
      return projectId === undefined ? undefined : { scope: "sources", organizationId, projectId, at };
    case "toolset": {
      const toolsetId = id("t");
      return projectId === undefined || toolsetId === undefined ? undefined : { scope: "toolset", organizationId, projectId, toolsetId, at };
    }
    default:
      return undefined;
  }
}
