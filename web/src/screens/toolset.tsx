import { Code, ConnectError } from "@connectrpc/connect";
import { useMutation, useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { useId, useRef, useState, type KeyboardEvent } from "react";
import { Target } from "../../../gen/releases/v1/releases_pb.js";
import { EditingMode, ToolsetService, type Toolset } from "../../../gen/toolsets/v1/toolsets_pb.js";
import { useAccount } from "../account.js";
import { Link, navigate, pathOf, useLocation, useTitle } from "../router.js";
import { Check } from "../ui/field.js";
import { Dialog } from "../ui/dialog.js";
import { useNotify } from "../ui/notices.js";
import { ProblemAlert } from "../ui/problem.js";
import { useFollowToolset, type FollowState } from "../watch.js";
import { ChangesTab } from "./changes.js";
import { EditTab } from "./edit.js";
import { EventsTab } from "./events.js";
import { OverviewTab } from "./overview.js";
import { ReleasesTab } from "./releases.js";

/** How often the toolset itself is read again while its page is visible (TanStack pauses it in hidden tabs). */
const MODE_POLL_MS = 30_000;

const TABS = [
  { id: "overview", label: "Overview" },
  { id: "edit", label: "Edit" },
  { id: "changes", label: "Changes" },
  { id: "releases", label: "Releases" },
  { id: "events", label: "Events" },
] as const;
export type TabId = (typeof TABS)[number]["id"];

export function isTab(s: string): s is TabId {
  return TABS.some((t) => t.id === s);
}

/** What a toolset tab needs: the addressing, the live toolset, its staging copy and the view. */
export interface ToolsetView {
  project: string;
  slug: string;
  live: Toolset;
  /** The staging copy; undefined in iteration mode or when there is none. */
  staging: Toolset | undefined;
  /** True while the staging copy is viewed (staging mode only). */
  viewingStaging: boolean;
  /** True in staging mode when the staging copy was discarded (the page offers to create one). */
  stagingMissing: boolean;
  /** The path of this toolset's page for a tab, keeping the view. */
  tabPath: (tab: TabId, ...rest: (string | bigint)[]) => string;
}

/** One toolset: its mode, the Live/Staging view, and the tabs. */
export function ToolsetScreen({ project, slug, tab, release }: { project: string; slug: string; tab: TabId; release?: bigint }) {
  const { search } = useLocation();
  // WatchToolset reports what is served, not a mode switch made elsewhere: poll the toolset itself, gently.
  const live = useQuery(ToolsetService.method.getToolset, { project, slug }, { refetchInterval: MODE_POLL_MS });
  const tabLabel = TABS.find((t) => t.id === tab)?.label ?? "";
  useTitle(`${live.data?.toolset?.name ?? slug}: ${release === undefined ? tabLabel : `Release ${release}`}`);
  const stagingMode = live.data?.toolset?.editingMode === EditingMode.STAGING;
  const staging = useQuery(ToolsetService.method.getStagingVersion, { project, slug }, { enabled: stagingMode, retry: false });
  const viewingStaging = stagingMode && search.get("view") === "staging";
  // Live always (publish, rollback); the staging copy while it is viewed (another producer's edits).
  const follow = useFollowToolset(project, slug, viewingStaging ? [Target.LIVE, Target.STAGING] : [Target.LIVE], staging.data?.toolset?.id ?? "");

  if (live.error) {
    return (
      <section>
        <Crumbs project={project} />
        <h1>{slug}</h1>
        <ProblemAlert error={live.error} />
      </section>
    );
  }
  const toolset = live.data?.toolset;
  if (!toolset) return <p aria-busy="true">Loading toolset…</p>;
  const stagingMissing = stagingMode && staging.error !== null && ConnectError.from(staging.error).code === Code.NotFound;
  const view: ToolsetView = {
    project,
    slug,
    live: toolset,
    staging: stagingMode ? staging.data?.toolset : undefined,
    viewingStaging,
    stagingMissing,
    tabPath: (t, ...rest) => pathOf("projects", project, "toolsets", slug, t, ...rest) + (viewingStaging ? "?view=staging" : ""),
  };
  return (
    <section>
      <Crumbs project={project} />
      <div className="title-row">
        <h1>{toolset.name}</h1>
        <FollowBadge state={follow} />
      </div>
      <p className="facts">
        <span className={stagingMode ? "badge badge-staging" : "badge"}>{stagingMode ? "Staging mode" : "Iteration mode"}</span>{" "}
        {toolset.currentReleaseNumber > 0n ? `Live serves release ${toolset.currentReleaseNumber}` : "Live follows the latest project state"}
        {" · "}
        <span className="muted">
          {toolset.slug} · version {String(toolset.version)}
        </span>
      </p>
      {toolset.description && <p className="description">{toolset.description}</p>}
      <ModeSwitch project={project} slug={slug} toolset={toolset} />
      {stagingMode && <ViewToggle viewingStaging={viewingStaging} />}
      {viewingStaging && (
        <div className="banner" role="note" aria-label="Staging">
          <strong>You are viewing the staging copy.</strong> Edits here are not live: MCP clients keep getting release{" "}
          {String(toolset.currentReleaseNumber)} until you publish.
        </div>
      )}
      {viewingStaging && stagingMissing && <CreateStaging project={project} slug={slug} />}
      {viewingStaging && staging.error && !stagingMissing && <ProblemAlert error={staging.error} />}
      <Tabs current={tab} view={view} />
      <div role="tabpanel" id="tabpanel" aria-labelledby={`tab-${tab}`} className="tabpanel">
        {tab === "overview" && <OverviewTab view={view} />}
        {tab === "edit" && <EditTab view={view} />}
        {tab === "changes" && <ChangesTab view={view} />}
        {tab === "releases" && <ReleasesTab view={view} release={release} />}
        {tab === "events" && <EventsTab view={view} />}
      </div>
    </section>
  );
}

function Crumbs({ project }: { project: string }) {
  return (
    <nav aria-label="Breadcrumb" className="crumbs">
      <Link to="/">Projects</Link> / <Link to={pathOf("projects", project)}>{project}</Link>
    </nav>
  );
}

function FollowBadge({ state }: { state: FollowState }) {
  const text = {
    connecting: "Connecting for live updates…",
    following: "Following changes",
    reconnecting: "Live updates interrupted: reconnecting…",
    gone: "Live updates stopped",
    paused: "Live updates paused while the tab is hidden",
  }[state];
  return <span className={`follow follow-${state}`}>{text}</span>;
}

/** Live | Staging, as a radio group (arrow keys move between them). */
function ViewToggle({ viewingStaging }: { viewingStaging: boolean }) {
  const { path, search } = useLocation();
  const labelId = useId();
  const choose = (staging: boolean) => {
    const next = new URLSearchParams(search);
    if (staging) next.set("view", "staging");
    else next.delete("view");
    const q = next.toString();
    navigate(path + (q ? `?${q}` : ""), { replace: true });
  };
  return (
    <div role="radiogroup" aria-labelledby={labelId} className="view-toggle">
      <span id={labelId}>View</span>
      <label>
        <input type="radio" name="view" checked={!viewingStaging} onChange={() => choose(false)} /> Live
      </label>
      <label>
        <input type="radio" name="view" checked={viewingStaging} onChange={() => choose(true)} /> Staging
      </label>
    </div>
  );
}

/** The tab list: arrow keys, Home and End move between tabs (WAI-ARIA tabs pattern). */
function Tabs({ current, view }: { current: TabId; view: ToolsetView }) {
  const refs = useRef<(HTMLButtonElement | null)[]>([]);
  const go = (i: number) => {
    const t = TABS[(i + TABS.length) % TABS.length]!;
    // Arrowing through the tabs leaves one history entry, not one per tab passed.
    navigate(view.tabPath(t.id), { replace: true });
    refs.current[(i + TABS.length) % TABS.length]?.focus();
  };
  const onKey = (e: KeyboardEvent, i: number) => {
    const moves: Record<string, number> = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: TABS.length - 1 };
    const to = moves[e.key];
    if (to === undefined) return;
    e.preventDefault();
    go(to);
  };
  return (
    <div role="tablist" aria-label="Toolset" className="tabs">
      {TABS.map((t, i) => (
        <button
          key={t.id}
          ref={(el) => {
            refs.current[i] = el;
          }}
          type="button"
          role="tab"
          id={`tab-${t.id}`}
          aria-selected={t.id === current}
          aria-controls="tabpanel"
          tabIndex={t.id === current ? 0 : -1}
          onClick={() => navigate(view.tabPath(t.id))}
          onKeyDown={(e) => onKey(e, i)}
        >
          {t.label}
        </button>
      ))}
    </div>
  );
}

/** Switches the editing mode; leaving staging asks first and offers to discard unpublished changes. */
function ModeSwitch({ project, slug, toolset }: { project: string; slug: string; toolset: Toolset }) {
  const { readOnly } = useAccount();
  const queryClient = useQueryClient();
  const notify = useNotify();
  const [confirming, setConfirming] = useState(false);
  const [discard, setDiscard] = useState(false);
  const staging = toolset.editingMode === EditingMode.STAGING;
  const mutation = useMutation(ToolsetService.method.switchEditingMode, {
    onSuccess: async (res) => {
      setConfirming(false);
      setDiscard(false);
      await queryClient.invalidateQueries();
      const n = res.toolset?.currentReleaseNumber ?? 0n;
      notify(staging ? "Switched to iteration mode: edits are live at once" : `Switched to staging mode: live serves release ${n}`);
    },
  });
  if (readOnly) return null;
  const toStaging = () => mutation.mutate({ project, slug, mode: EditingMode.STAGING });
  const toIteration = () => mutation.mutate({ project, slug, mode: EditingMode.ITERATION, discardStaging: discard });
  return (
    <div className="mode-switch">
      {staging ? (
        <button type="button" className="secondary" onClick={() => (mutation.reset(), setConfirming(true))}>
          Switch to iteration mode
        </button>
      ) : (
        <>
          <button type="button" onClick={toStaging} disabled={mutation.isPending}>
            Switch to staging mode
          </button>
          <span className="hint">
            {" "}
            Live keeps serving what it serves now, captured as a release; edits then go to a staging copy until you publish.
          </span>
        </>
      )}
      {!staging && mutation.error && <ProblemAlert error={mutation.error} />}
      <Dialog title="Switch to iteration mode" open={confirming} onClose={() => setConfirming(false)}>
        <p>
          Live will take release {String(toolset.currentReleaseNumber)}’s state and then follow the latest project state: edits apply at once. The
          staging copy is discarded; releases are kept.
        </p>
        <Check label="Discard unpublished changes of the staging copy" checked={discard} onChange={setDiscard} />
        <ProblemAlert error={mutation.error} />
        <div className="actions">
          <button type="button" onClick={toIteration} disabled={mutation.isPending}>
            Switch
          </button>
          <button type="button" className="secondary" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </div>
      </Dialog>
    </div>
  );
}

function CreateStaging({ project, slug }: { project: string; slug: string }) {
  const { readOnly } = useAccount();
  const queryClient = useQueryClient();
  const mutation = useMutation(ToolsetService.method.createStagingVersion, {
    onSuccess: () => queryClient.invalidateQueries(),
  });
  return (
    <div className="panel">
      <p>This toolset has no staging copy (it was discarded). Create one from the current release to edit and publish again.</p>
      {!readOnly && (
        <button type="button" onClick={() => mutation.mutate({ project, slug })} disabled={mutation.isPending}>
          Create staging copy
        </button>
      )}
      <ProblemAlert error={mutation.error} />
    </div>
  );
}
