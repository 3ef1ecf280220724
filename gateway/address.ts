/** Which state of a toolset an MCP endpoint serves. */
export type EndpointKind = "live" | "staging" | "release";

/** An MCP endpoint named by a request path (DESIGN §10). */
export interface EndpointAddress {
  org: string;
  project: string;
  mcpSlug: string;
  kind: EndpointKind;
  /** Set for kind "release". */
  release?: bigint;
  /** The path form, for logs and keys: `org/project/slug[/staging|/releases/n]`. */
  label: string;
}

const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,62})$/;
const RELEASE = /^[1-9][0-9]{0,17}$/;

/**
 * Parses `/mcp/{org}/{project}/{mcp_slug}[/staging|/releases/{n}]`; undefined for
 * any other path, including slugs the service would refuse (they can name no
 * endpoint, so they get the same 404 as a missing one).
 */
export function parseEndpointPath(pathname: string): EndpointAddress | undefined {
  const parts = pathname.replace(/\/+$/, "").split("/");
  if (parts[0] !== "" || parts[1] !== "mcp") return undefined;
  const [org, project, mcpSlug, ...rest] = parts.slice(2);
  if (org === undefined || project === undefined || mcpSlug === undefined) return undefined;
  if (!SLUG.test(org) || !SLUG.test(project) || !SLUG.test(mcpSlug)) return undefined;
  const base = `${org}/${project}/${mcpSlug}`;
  if (rest.length === 0) return { org, project, mcpSlug, kind: "live", label: base };
  if (rest.length === 1 && rest[0] === "staging") return { org, project, mcpSlug, kind: "staging", label: `${base}/staging` };
  if (rest.length === 2 && rest[0] === "releases" && RELEASE.test(rest[1] ?? "")) {
    const release = BigInt(rest[1] ?? "0");
    return { org, project, mcpSlug, kind: "release", release, label: `${base}/releases/${release}` };
  }
  return undefined;
}
