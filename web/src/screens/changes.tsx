import { useInfiniteQuery, useMutation, useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ReleaseService, Target, type ReleaseRef } from "../../../gen/releases/v1/releases_pb.js";
import { EditingMode } from "../../../gen/toolsets/v1/toolsets_pb.js";
import { useAccount } from "../account.js";
import { describeProblem, fieldProblem } from "../problems.js";
import { ChangeList } from "../ui/change-list.js";
import { Dialog } from "../ui/dialog.js";
import { Field } from "../ui/field.js";
import { LoadMore } from "../ui/load-more.js";
import { useNotify } from "../ui/notices.js";
import { ProblemAlert } from "../ui/problem.js";
import type { ToolsetView } from "./toolset.js";
import { byPageToken } from "../paging.js";

/** A state to compare, as a select value: "live", "staging" or a release number. */
type RefValue = string;

function refOf(v: RefValue): ReleaseRef["ref"] {
  if (v === "live") return { case: "target", value: Target.LIVE };
  if (v === "staging") return { case: "target", value: Target.STAGING };
  return { case: "releaseNumber", value: BigInt(v) };
}

function refLabel(v: RefValue): string {
  return v === "live" ? "live" : v === "staging" ? "the staging copy" : `release ${v}`;
}

/** "What changed" between two states (DiffReleases), and the publish dialog. */
export function ChangesTab({ view }: { view: ToolsetView }) {
  const { project, slug, live, staging } = view;
  const stagingMode = live.editingMode === EditingMode.STAGING;
  const releases = useInfiniteQuery(ReleaseService.method.listReleases, { project, slug, pageSize: 100, pageToken: "" }, byPageToken);
  const numbers = (releases.data?.pages ?? []).flatMap((p) => p.releases).map((r) => String(r.releaseNumber));
  const [from, setFrom] = useState<RefValue | null>(null);
  const [to, setTo] = useState<RefValue | null>(null);
  // Staging mode compares live with the staging copy; iteration mode, the newest release with live.
  const defaultFrom = stagingMode ? "live" : numbers[0];
  const defaultTo = stagingMode && staging ? "staging" : "live";
  const f = from ?? defaultFrom;
  const t = to ?? defaultTo;
  const options: RefValue[] = ["live", ...(staging ? ["staging"] : []), ...numbers];
  return (
    <>
      <h2>What changed</h2>
      <div className="compare">
        <RefSelect label="Compare from" value={f} options={options} onChange={setFrom} />
        <RefSelect label="to" value={t} options={options} onChange={setTo} />
      </div>
      {!stagingMode && releases.isPending ? (
        <p aria-busy="true">Loading releases…</p>
      ) : f === undefined ? (
        <p className="muted">In iteration mode edits are live at once; there is no release to compare with yet.</p>
      ) : (
        <Diff project={project} slug={slug} from={f} to={t} />
      )}
      <LoadMore
        what="releases to compare"
        hasMore={releases.hasNextPage}
        loading={releases.isFetchingNextPage}
        onMore={() => void releases.fetchNextPage()}
      />
      {stagingMode && staging && <Publish view={view} newest={releases.data?.pages[0]?.releases[0]?.releaseNumber} />}
    </>
  );
}

/** A select of the states to compare; "—" while there is none to choose. */
function RefSelect({
  label,
  value,
  options,
  onChange,
}: {
  label: string;
  value: RefValue | undefined;
  options: RefValue[];
  onChange: (v: RefValue) => void;
}) {
  return (
    <Field label={label}>
      {(p) => (
        <select {...p} value={value ?? ""} onChange={(e) => onChange(e.target.value)}>
          {value === undefined && <option value="">—</option>}
          {options.map((o) => (
            <option key={o} value={o}>
              {o === "live" ? "Live" : o === "staging" ? "Staging copy" : `Release ${o}`}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

/** The changes an MCP client would see going from `from` to `to`. */
export function Diff({ project, slug, from, to }: { project: string; slug: string; from: RefValue; to: RefValue }) {
  const diff = useQuery(ReleaseService.method.diffReleases, { project, slug, from: { ref: refOf(from) }, to: { ref: refOf(to) } });
  return (
    <>
      <ProblemAlert error={diff.error} />
      {diff.isPending && <p aria-busy="true">Comparing…</p>}
      {diff.data && <ChangeList changes={diff.data.changes} empty={`No differences: ${refLabel(from)} and ${refLabel(to)} serve the same.`} />}
    </>
  );
}

/**
 * A fresh idempotency key: `console-` and 32 random hex digits. Not
 * crypto.randomUUID, which browsers offer on HTTPS and localhost only.
 */
function attemptId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `console-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** The publish dialog: notes, the changes, and one idempotency key per attempt (a retry of the attempt reuses it). */
function Publish({ view, newest }: { view: ToolsetView; newest: bigint | undefined }) {
  const { readOnly } = useAccount();
  const queryClient = useQueryClient();
  const notify = useNotify();
  const [open, setOpen] = useState(false);
  const [notes, setNotes] = useState("");
  const [attemptKey, setAttemptKey] = useState("");
  const mutation = useMutation(ReleaseService.method.publishStagingVersion, {
    onSuccess: async (res) => {
      setOpen(false);
      setNotes("");
      await queryClient.invalidateQueries();
      notify(`Published release ${res.release?.releaseNumber ?? ""}`);
    },
  });
  if (readOnly) return null;
  const notesError = mutation.error ? fieldProblem(describeProblem(mutation.error), "notes") : undefined;
  const start = () => {
    mutation.reset();
    setAttemptKey(attemptId());
    setOpen(true);
  };
  return (
    <div className="actions">
      <button type="button" onClick={start}>
        Publish…
      </button>
      <Dialog title="Publish staging" open={open} onClose={() => setOpen(false)}>
        <p>
          The staging copy becomes {newest === undefined ? "a new release" : `release ${newest + 1n}`} and live serves it at once. These are the
          changes MCP clients will see:
        </p>
        <div className="dialog-scroll">
          <Diff project={view.project} slug={view.slug} from="live" to="staging" />
        </div>
        <Field label="Release notes" hint="What changed and why; shown in the release history." error={notesError}>
          {(p) => <textarea {...p} rows={3} value={notes} onChange={(e) => setNotes(e.target.value)} />}
        </Field>
        <ProblemAlert error={mutation.error} placed={["notes"]} />
        <div className="actions">
          <button
            type="button"
            disabled={mutation.isPending}
            onClick={() => mutation.mutate({ project: view.project, slug: view.slug, notes, idempotencyKey: attemptKey })}
          >
            {mutation.isPending ? "Publishing…" : "Publish release"}
          </button>
          <button type="button" className="secondary" onClick={() => setOpen(false)}>
            Cancel
          </button>
          <span className="muted small">Idempotency key {attemptKey}</span>
        </div>
      </Dialog>
    </div>
  );
}
