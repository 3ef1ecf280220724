import { useQuery } from "@connectrpc/connect-query";
import { useState } from "react";
import { ReleaseService, Target } from "../../../gen/releases/v1/releases_pb.js";
import { useAccount } from "../account.js";
import { mcpEndpoints } from "../endpoints.js";
import { CopyButton } from "../ui/copy-button.js";
import { LoadMore } from "../ui/load-more.js";
import { ProblemAlert } from "../ui/problem.js";
import type { ToolsetView } from "./toolset.js";

const TOOLS_PER_PAGE = 50;

/** What the viewed target serves (tools, prompts) and the MCP endpoints. */
export function OverviewTab({ view }: { view: ToolsetView }) {
  const { project, slug, viewingStaging } = view;
  const resolved = useQuery(ReleaseService.method.resolveToolset, { project, slug, target: viewingStaging ? Target.STAGING : Target.LIVE });
  const [shown, setShown] = useState(TOOLS_PER_PAGE);
  const r = resolved.data?.resolved;
  const tools = r?.tools ?? [];
  return (
    <>
      <h2>{viewingStaging ? "What the staging copy serves" : "What live serves"}</h2>
      <ProblemAlert error={resolved.error} />
      {resolved.isPending && <p aria-busy="true">Loading…</p>}
      {r && (
        <p className="muted">
          {r.releaseNumber > 0n ? `Release ${r.releaseNumber}` : viewingStaging ? "Unpublished staging state" : "Latest project state"} · etag{" "}
          <code>{r.etag}</code>
        </p>
      )}
      {r && (
        <>
          <h3 id="tools-heading">Tools ({tools.length})</h3>
          {tools.length === 0 ? (
            <p className="muted">No tools are served.</p>
          ) : (
            <table aria-labelledby="tools-heading">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Operation</th>
                  <th scope="col">Description</th>
                </tr>
              </thead>
              <tbody>
                {tools.slice(0, shown).map((t) => (
                  <tr key={t.urn}>
                    <td>
                      <strong>{t.name}</strong>
                      {t.title && <div className="muted">{t.title}</div>}
                      {t.confirm && <div className="badge">asks to confirm</div>}
                    </td>
                    <td>
                      <code>
                        {t.httpMethod} {t.path}
                      </code>
                    </td>
                    <td className="clip">{t.description}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <LoadMore what="tools" hasMore={tools.length > shown} loading={false} onMore={() => setShown((n) => n + TOOLS_PER_PAGE)} />
          <h3>Prompts ({r.prompts.length})</h3>
          {r.prompts.length === 0 ? (
            <p className="muted">No prompts are served.</p>
          ) : (
            <ul>
              {r.prompts.map((p) => (
                <li key={p.id}>
                  <strong>{p.name}</strong> {p.description && <span className="muted">— {p.description}</span>}
                </li>
              ))}
            </ul>
          )}
        </>
      )}
      <Endpoints view={view} />
    </>
  );
}

/** The MCP URLs of live, staging and each release (DESIGN §10), with copy buttons. */
function Endpoints({ view }: { view: ToolsetView }) {
  const { caller, gatewayUrl } = useAccount();
  const { project, slug, live, staging } = view;
  const releases = useQuery(ReleaseService.method.listReleases, { project, slug, pageSize: 20 });
  const numbers = (releases.data?.releases ?? []).map((r) => r.releaseNumber);
  const endpoints = mcpEndpoints(
    { gatewayUrl, organization: caller.organization?.slug ?? "", project, mcpSlug: live.mcpSlug },
    { staging: staging !== undefined, releases: numbers },
  );
  return (
    <section aria-labelledby="endpoints-heading">
      <h2 id="endpoints-heading">MCP endpoints</h2>
      {live.mcpSlug === "" ? (
        <p className="muted">This toolset has no MCP slug, so no endpoint serves it. Set one in Edit.</p>
      ) : (
        <>
          <p className="muted">
            {live.mcpEnabled ? "Enabled" : "Disabled: the endpoints answer 404 until it is enabled"} ·{" "}
            {live.mcpIsPublic ? "public (no key needed for live)" : "private (clients send Authorization: Bearer <key>)"}
            {gatewayUrl === "" && " · the gateway's address is not configured (GATEWAY_PUBLIC_URL): paths only"}
          </p>
          <table>
            <caption className="visually-hidden">MCP endpoint URLs</caption>
            <tbody>
              {endpoints.map((e) => (
                <tr key={e.label}>
                  <th scope="row">{e.label}</th>
                  <td>
                    <code>{e.url}</code>
                  </td>
                  <td>
                    <CopyButton text={e.url} label={`Copy ${e.label} URL`} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {releases.data?.nextPageToken && <p className="muted">Older releases: their URL ends in /releases/N.</p>}
        </>
      )}
    </section>
  );
}
