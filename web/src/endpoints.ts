/** One MCP endpoint of a toolset (DESIGN §10). */
export interface Endpoint {
  /** "Live", "Staging" or "Release N". */
  label: string;
  url: string;
}

export interface EndpointAddress {
  /** The gateway's base URL (GATEWAY_PUBLIC_URL); empty = unknown, paths only. */
  gatewayUrl: string;
  organization: string;
  project: string;
  mcpSlug: string;
}

/** The live endpoint, the staging one (staging mode only) and one per release, newest first. */
export function mcpEndpoints(a: EndpointAddress, opts: { staging: boolean; releases: readonly bigint[] }): Endpoint[] {
  if (a.mcpSlug === "") return [];
  const base = `${a.gatewayUrl.replace(/\/+$/, "")}/mcp/${encodeURIComponent(a.organization)}/${encodeURIComponent(a.project)}/${encodeURIComponent(a.mcpSlug)}`;
  const list: Endpoint[] = [{ label: "Live", url: base }];
  if (opts.staging) list.push({ label: "Staging", url: `${base}/staging` });
  for (const n of opts.releases) list.push({ label: `Release ${n}`, url: `${base}/releases/${n}` });
  return list;
}
