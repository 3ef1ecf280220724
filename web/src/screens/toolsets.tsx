import { useInfiniteQuery } from "@connectrpc/connect-query";
import { EditingMode, ToolsetService } from "../../../gen/toolsets/v1/toolsets_pb.js";
import { useAccount } from "../account.js";
import { Link, pathOf, useTitle } from "../router.js";
import { LoadMore } from "../ui/load-more.js";
import { ProblemAlert } from "../ui/problem.js";
import { NewToolset } from "./new-toolset.js";
import { byPageToken } from "../paging.js";

/** The project's toolsets with their mode and current release. */
export function ToolsetsScreen({ project }: { project: string }) {
  useTitle(`Toolsets of ${project}`);
  const { readOnly } = useAccount();
  const list = useInfiniteQuery(ToolsetService.method.listToolsets, { project, pageSize: 50, pageToken: "" }, byPageToken);
  const toolsets = list.data?.pages.flatMap((p) => p.toolsets) ?? [];
  return (
    <section>
      <nav aria-label="Breadcrumb" className="crumbs">
        <Link to="/">Projects</Link> / <span aria-current="page">{project}</span>
      </nav>
      <div className="title-row">
        <h1>Toolsets</h1>
        {!readOnly && <NewToolset project={project} />}
      </div>
      <ProblemAlert error={list.error} />
      {list.isPending && <p aria-busy="true">Loading toolsets…</p>}
      {list.isSuccess && toolsets.length === 0 && <p>This project has no toolsets yet.</p>}
      {toolsets.length > 0 && (
        <table>
          <caption className="visually-hidden">Toolsets of project {project}</caption>
          <thead>
            <tr>
              <th scope="col">Toolset</th>
              <th scope="col">Mode</th>
              <th scope="col">Current release</th>
              <th scope="col">MCP endpoint</th>
              <th scope="col">Tools</th>
            </tr>
          </thead>
          <tbody>
            {toolsets.map((t) => (
              <tr key={t.id}>
                <td>
                  <Link to={pathOf("projects", project, "toolsets", t.slug)}>{t.name}</Link>
                  <div className="muted">{t.slug}</div>
                </td>
                <td>{t.editingMode === EditingMode.STAGING ? "Staging" : "Iteration"}</td>
                <td>{t.currentReleaseNumber > 0n ? `Release ${t.currentReleaseNumber}` : "—"}</td>
                <td>{t.mcpSlug ? `${t.mcpSlug}${t.mcpEnabled ? "" : " (disabled)"}${t.mcpIsPublic ? " · public" : ""}` : "—"}</td>
                <td>{t.toolUrns.length}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <LoadMore what="toolsets" hasMore={list.hasNextPage} loading={list.isFetchingNextPage} onMore={() => void list.fetchNextPage()} />
    </section>
  );
}
