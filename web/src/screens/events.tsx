import { useInfiniteQuery } from "@connectrpc/connect-query";
import { ReleaseService } from "../../../gen/releases/v1/releases_pb.js";
import { eventKindName, releaseName } from "../format.js";
import { LoadMore } from "../ui/load-more.js";
import { ProblemAlert } from "../ui/problem.js";
import { Time } from "../ui/time.js";
import type { ToolsetView } from "./toolset.js";
import { byPageToken } from "../paging.js";

/** The append-only log of moves of the live pointer, newest first. */
export function EventsTab({ view }: { view: ToolsetView }) {
  const { project, slug } = view;
  const list = useInfiniteQuery(ReleaseService.method.listReleaseEvents, { project, slug, pageSize: 25, pageToken: "" }, byPageToken);
  const events = list.data?.pages.flatMap((p) => p.events) ?? [];
  return (
    <>
      <h2 id="events-heading">Event log</h2>
      <ProblemAlert error={list.error} />
      {list.isPending && <p aria-busy="true">Loading events…</p>}
      {list.isSuccess && events.length === 0 && <p className="muted">Nothing has moved live yet: no publish, rollback or mode switch.</p>}
      {events.length > 0 && (
        <table aria-labelledby="events-heading">
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">What</th>
              <th scope="col">Live moved</th>
              <th scope="col">By</th>
              <th scope="col">Notes</th>
            </tr>
          </thead>
          <tbody>
            {events.map((e) => (
              <tr key={e.id}>
                <td>
                  <Time ts={e.createdAt} />
                </td>
                <td>{eventKindName(e.kind)}</td>
                <td>
                  {releaseName(e.fromReleaseNumber)} → {releaseName(e.toReleaseNumber)}
                </td>
                <td>{e.actor}</td>
                <td className="clip">{e.notes}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <LoadMore what="events" hasMore={list.hasNextPage} loading={list.isFetchingNextPage} onMore={() => void list.fetchNextPage()} />
    </>
  );
}
