import { useInfiniteQuery } from "@connectrpc/connect-query";
import { useEffect } from "react";
import { AccountService } from "../../../gen/accounts/v1/accounts_pb.js";
import { useAccount } from "../account.js";
import { Link, navigate, pathOf, useTitle } from "../router.js";
import { LoadMore } from "../ui/load-more.js";
import { ProblemAlert } from "../ui/problem.js";
import { byPageToken } from "../paging.js";

/** The projects the key can open; a key bound to one project goes straight to it. */
export function ProjectsScreen() {
  const { caller } = useAccount();
  useTitle("Projects");
  const bound = caller.projectSlug;
  useEffect(() => {
    if (bound) navigate(pathOf("projects", bound), { replace: true });
  }, [bound]);
  const list = useInfiniteQuery(AccountService.method.listProjects, { pageSize: 50, pageToken: "" }, { ...byPageToken, enabled: !bound });
  const projects = list.data?.pages.flatMap((p) => p.projects) ?? [];
  // One project to choose from: no choice to make.
  const only = list.isSuccess && !list.hasNextPage && projects.length === 1 ? projects[0]!.slug : undefined;
  useEffect(() => {
    if (only) navigate(pathOf("projects", only), { replace: true });
  }, [only]);
  return (
    <section>
      <h1>Projects</h1>
      <ProblemAlert error={list.error} />
      {list.isPending && !bound && <p aria-busy="true">Loading projects…</p>}
      {list.isSuccess && projects.length === 0 && <p>This organization has no projects yet.</p>}
      <ul className="cards">
        {projects.map((p) => (
          <li key={p.id}>
            <Link to={pathOf("projects", p.slug)}>{p.name || p.slug}</Link>
            <span className="muted"> {p.slug}</span>
          </li>
        ))}
      </ul>
      <LoadMore what="projects" hasMore={list.hasNextPage} loading={list.isFetchingNextPage} onMore={() => void list.fetchNextPage()} />
    </section>
  );
}
