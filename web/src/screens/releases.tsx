import { useInfiniteQuery, useMutation, useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ReleaseService, type Release } from "../../../gen/releases/v1/releases_pb.js";
import { EditingMode } from "../../../gen/toolsets/v1/toolsets_pb.js";
import { useAccount } from "../account.js";
import { mcpEndpoints } from "../endpoints.js";
import { describeProblem, fieldProblem } from "../problems.js";
import { Link } from "../router.js";
import { CopyButton } from "../ui/copy-button.js";
import { Dialog } from "../ui/dialog.js";
import { Field } from "../ui/field.js";
import { LoadMore } from "../ui/load-more.js";
import { useNotify } from "../ui/notices.js";
import { ProblemAlert } from "../ui/problem.js";
import { Time } from "../ui/time.js";
import { Diff } from "./changes.js";
import type { ToolsetView } from "./toolset.js";
import { byPageToken } from "../paging.js";

const TOOLS_PER_PAGE = 100;

/** Release history, or one release's details when `release` is set. */
export function ReleasesTab({ view, release }: { view: ToolsetView; release: bigint | undefined }) {
  return release === undefined ? <ReleaseHistory view={view} /> : <ReleaseDetails view={view} n={release} />;
}

function ReleaseHistory({ view }: { view: ToolsetView }) {
  const { project, slug, live } = view;
  const [rollingBackTo, setRollingBackTo] = useState<bigint | null>(null);
  const list = useInfiniteQuery(ReleaseService.method.listReleases, { project, slug, pageSize: 20, pageToken: "" }, byPageToken);
  const releases = list.data?.pages.flatMap((p) => p.releases) ?? [];
  return (
    <>
      <h2 id="releases-heading">Releases</h2>
      <ProblemAlert error={list.error} />
      {list.isPending && <p aria-busy="true">Loading releases…</p>}
      {list.isSuccess && releases.length === 0 && (
        <p className="muted">No releases yet. Switching to staging mode captures what live serves as release 1.</p>
      )}
      {releases.length > 0 && (
        <table aria-labelledby="releases-heading">
          <thead>
            <tr>
              <th scope="col">Release</th>
              <th scope="col">Published</th>
              <th scope="col">By</th>
              <th scope="col">Notes</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {releases.map((r) => (
              <tr key={r.id} className={r.isCurrent ? "current" : undefined}>
                <td>
                  <Link to={view.tabPath("releases", r.releaseNumber)}>Release {String(r.releaseNumber)}</Link>
                  {r.isCurrent && <span className="badge badge-current">Current</span>}
                </td>
                <td>
                  <Time ts={r.createdAt} />
                </td>
                <td>{r.releasedBy}</td>
                <td className="clip">{r.notes}</td>
                <td>
                  <RollbackButton view={view} release={r} onClick={() => setRollingBackTo(r.releaseNumber)} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <LoadMore what="releases" hasMore={list.hasNextPage} loading={list.isFetchingNextPage} onMore={() => void list.fetchNextPage()} />
      {rollingBackTo !== null && (
        <RollbackDialog view={view} to={rollingBackTo} current={live.currentReleaseNumber} onClose={() => setRollingBackTo(null)} />
      )}
    </>
  );
}

function RollbackButton({ view, release, onClick }: { view: ToolsetView; release: Release; onClick: () => void }) {
  const { readOnly } = useAccount();
  if (readOnly || release.isCurrent || view.live.editingMode !== EditingMode.STAGING) return null;
  return (
    <button type="button" className="secondary small" onClick={onClick}>
      Roll back to release {String(release.releaseNumber)}
    </button>
  );
}

/** Names both releases and lists what the rollback will change before it is made. */
function RollbackDialog({ view, to, current, onClose }: { view: ToolsetView; to: bigint; current: bigint; onClose: () => void }) {
  const queryClient = useQueryClient();
  const notify = useNotify();
  const [reason, setReason] = useState("");
  const mutation = useMutation(ReleaseService.method.rollbackToRelease, {
    onSuccess: async () => {
      onClose();
      await queryClient.invalidateQueries();
      notify(`Rolled back: live serves release ${to}`);
    },
  });
  return (
    <Dialog title={`Roll back to release ${to}`} open onClose={onClose}>
      <p>
        Live serves <strong>release {String(current)}</strong> now. After the rollback it serves <strong>release {String(to)}</strong> again, and the
        toolset’s name, description and MCP settings return to release {String(to)}’s. The staging copy and the project’s sources are not changed. MCP
        clients will see these changes:
      </p>
      <div className="dialog-scroll">
        <Diff project={view.project} slug={view.slug} from="live" to={String(to)} />
      </div>
      <Field
        label="Reason"
        hint="Recorded in the event log."
        error={mutation.error ? fieldProblem(describeProblem(mutation.error), "reason") : undefined}
      >
        {(p) => <textarea {...p} rows={2} value={reason} onChange={(e) => setReason(e.target.value)} />}
      </Field>
      <ProblemAlert error={mutation.error} placed={["reason"]} />
      <div className="actions">
        <button
          type="button"
          className="danger"
          disabled={mutation.isPending}
          onClick={() => mutation.mutate({ project: view.project, slug: view.slug, releaseNumber: to, reason })}
        >
          {mutation.isPending ? "Rolling back…" : "Roll back"}
        </button>
        <button type="button" className="secondary" onClick={onClose}>
          Cancel
        </button>
      </div>
    </Dialog>
  );
}

/** One release: what it captured, the tools it serves, its etag and its MCP URL. */
function ReleaseDetails({ view, n }: { view: ToolsetView; n: bigint }) {
  const { caller, gatewayUrl } = useAccount();
  const { project, slug, live } = view;
  const [rollingBack, setRollingBack] = useState(false);
  const [shownTools, setShownTools] = useState(TOOLS_PER_PAGE);
  const release = useQuery(ReleaseService.method.getRelease, { project, slug, releaseNumber: n });
  const resolved = useQuery(ReleaseService.method.resolveToolset, { project, slug, releaseNumber: n });
  const r = release.data?.release;
  const endpoint = mcpEndpoints(
    { gatewayUrl, organization: caller.organization?.slug ?? "", project, mcpSlug: live.mcpSlug },
    { staging: false, releases: [n] },
  ).find((e) => e.label === `Release ${n}`);
  return (
    <>
      <p>
        <Link to={view.tabPath("releases")}>← All releases</Link>
      </p>
      <h2>Release {String(n)}</h2>
      <ProblemAlert error={release.error} />
      {r && (
        <>
          {r.isCurrent && <p className="badge badge-current">Current: live serves this release</p>}
          {r && !r.isCurrent && <RollbackButton view={view} release={r} onClick={() => setRollingBack(true)} />}
          <dl className="facts-list">
            <dt>Published</dt>
            <dd>
              <Time ts={r.createdAt} /> by {r.releasedBy}
            </dd>
            <dt>Notes</dt>
            <dd>{r.notes || <span className="muted">none</span>}</dd>
            <dt>Etag</dt>
            <dd>
              <code>{r.etag}</code>
            </dd>
            {endpoint && (
              <>
                <dt>MCP URL</dt>
                <dd>
                  <code>{endpoint.url}</code> <CopyButton text={endpoint.url} label={`Copy ${endpoint.label} URL`} />
                </dd>
              </>
            )}
            <dt>Captured state</dt>
            <dd>
              <ul className="ids">
                <li>
                  Deployment <code>{r.deploymentId || "none"}</code>
                </li>
                <li>
                  Toolset version <code>{r.toolsetVersionId}</code>
                </li>
                <li>
                  Project sources <code>{r.sourceStateId}</code>
                </li>
                <li>
                  Prompt templates <code>{r.systemSourceStateId}</code>
                </li>
                <li>
                  Global variations <code>{r.globalVariationsVersionId || "none"}</code>
                </li>
                <li>
                  Toolset variations <code>{r.toolsetVariationsVersionId || "none"}</code>
                </li>
              </ul>
            </dd>
          </dl>
        </>
      )}
      <h3 id="release-tools-heading">Tools served</h3>
      <ProblemAlert error={resolved.error} />
      {resolved.data?.resolved && (
        <>
          <ul aria-labelledby="release-tools-heading" className="tool-names">
            {resolved.data.resolved.tools.slice(0, shownTools).map((t) => (
              <li key={t.urn}>
                <strong>{t.name}</strong> <span className="muted">{t.description}</span>
              </li>
            ))}
          </ul>
          <LoadMore
            what="tools"
            hasMore={resolved.data.resolved.tools.length > shownTools}
            loading={false}
            onMore={() => setShownTools((n) => n + TOOLS_PER_PAGE)}
          />
          {resolved.data.resolved.prompts.length > 0 && (
            <>
              <h3>Prompts served</h3>
              <ul>
                {resolved.data.resolved.prompts.map((p) => (
                  <li key={p.id}>{p.name}</li>
                ))}
              </ul>
            </>
          )}
        </>
      )}
      {rollingBack && <RollbackDialog view={view} to={n} current={live.currentReleaseNumber} onClose={() => setRollingBack(false)} />}
    </>
  );
}
