import { Code, ConnectError } from "@connectrpc/connect";
import { useInfiniteQuery, useMutation, useQuery } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { useMemo, useState, type FormEvent } from "react";
import { SourceService } from "../../../gen/sources/v1/sources_pb.js";
import { EditingMode, ToolsetService, type Toolset } from "../../../gen/toolsets/v1/toolsets_pb.js";
import { useAccount } from "../account.js";
import { toolNameOf } from "../changes.js";
import { byPageToken } from "../paging.js";
import { describeProblem, fieldProblem } from "../problems.js";
import { navigate, pathOf } from "../router.js";
import { Dialog } from "../ui/dialog.js";
import { Check, Field } from "../ui/field.js";
import { Checklist } from "../ui/checklist.js";
import { LoadMore } from "../ui/load-more.js";
import { useNotify } from "../ui/notices.js";
import { ProblemAlert } from "../ui/problem.js";
import type { ToolsetView } from "./toolset.js";
import { VariationsSection } from "./variations.js";

const TOOLS_PER_PAGE = 100;

interface Draft {
  name: string;
  description: string;
  toolUrns: string[];
  promptTemplateNames: string[];
  mcpSlug: string;
  mcpEnabled: boolean;
  mcpIsPublic: boolean;
}

type DraftKey = keyof Draft;

/** The proto field name (update_mask path) of each draft field. */
const PATHS: Record<DraftKey, string> = {
  name: "name",
  description: "description",
  toolUrns: "tool_urns",
  promptTemplateNames: "prompt_template_names",
  mcpSlug: "mcp_slug",
  mcpEnabled: "mcp_enabled",
  mcpIsPublic: "mcp_is_public",
};

function draftOf(t: Toolset): Draft {
  return {
    name: t.name,
    description: t.description,
    toolUrns: [...t.toolUrns],
    promptTemplateNames: [...t.promptTemplateNames],
    mcpSlug: t.mcpSlug,
    mcpEnabled: t.mcpEnabled,
    mcpIsPublic: t.mcpIsPublic,
  };
}

function same(a: Draft[DraftKey], b: Draft[DraftKey]): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && [...a].sort().join("\n") === [...b].sort().join("\n");
  return a === b;
}

/** Edits the staging copy (staging mode) or the live toolset (iteration mode). */
export function EditTab({ view }: { view: ToolsetView }) {
  const { live, staging, viewingStaging, project, slug } = view;
  const stagingMode = live.editingMode === EditingMode.STAGING;
  if (stagingMode && !viewingStaging) {
    return (
      <div className="panel">
        <p>Live is pinned to release {String(live.currentReleaseNumber)} and changes only by publishing. Edit the staging copy, then publish it.</p>
        <button type="button" onClick={() => navigate(pathOf("projects", project, "toolsets", slug, "edit") + "?view=staging")}>
          Edit the staging copy
        </button>
      </div>
    );
  }
  const target = stagingMode ? staging : live;
  if (!target) return view.stagingMissing ? null : <p aria-busy="true">Loading the staging copy…</p>;
  return (
    <>
      <ToolsetForm key={target.id} view={view} toolset={target} />
      <VariationsSection view={view} toolset={target} />
      {stagingMode && <DiscardStaging view={view} />}
    </>
  );
}

function ToolsetForm({ view, toolset }: { view: ToolsetView; toolset: Toolset }) {
  const { readOnly } = useAccount();
  const queryClient = useQueryClient();
  const notify = useNotify();
  const { project, slug, viewingStaging } = view;
  const base = useMemo(() => draftOf(toolset), [toolset]);
  // Only the fields the user touched: the others always show the toolset as it is now.
  const [draft, setDraft] = useState<Partial<Draft>>({});
  // The version the edit started from: a save fails with VERSION_CONFLICT if someone saved since.
  const [startedAt, setStartedAt] = useState<bigint>(toolset.version);
  // After a VERSION_CONFLICT, the next version read becomes the one the edit is based on.
  const [rebase, setRebase] = useState(false);
  if (rebase && toolset.version !== startedAt) {
    setStartedAt(toolset.version);
    setRebase(false);
  }
  const values: Draft = { ...base, ...draft };
  const changed = (Object.keys(draft) as DraftKey[]).filter((k) => !same(values[k], base[k]));
  const mutation = useMutation(ToolsetService.method.updateToolset, {
    onSuccess: async (res, req) => {
      // The form shows the saved toolset before the draft lets go of what was sent…
      await queryClient.invalidateQueries();
      const sent = (req.updateMask?.paths ?? []) as string[];
      const fields = (req.fields ?? {}) as Partial<Draft>;
      // …and keeps what was typed while the save was under way, based on the version it made.
      setDraft((d) =>
        Object.fromEntries(Object.entries(d).filter(([k, v]) => !(sent.includes(PATHS[k as DraftKey]) && same(v, fields[k as DraftKey]!)))),
      );
      if (res.toolset) setStartedAt(res.toolset.version);
      notify("Saved");
    },
    onError: (err) => {
      // The touched fields keep the user's values; the next save is checked against what they now see.
      if (describeProblem(err).reason === "VERSION_CONFLICT") {
        setRebase(true);
        void queryClient.invalidateQueries();
      }
    },
  });
  const problem = mutation.error ? describeProblem(mutation.error) : undefined;
  const fieldError = (k: DraftKey) => fieldProblem(problem, `fields.${PATHS[k]}`);
  const set = <K extends DraftKey>(k: K, v: Draft[K]) => {
    if (Object.keys(draft).length === 0) setStartedAt(toolset.version);
    // Typing a field back to its current value untouches it: it follows the toolset again.
    setDraft((d) => {
      const next: Partial<Draft> = { ...d };
      if (same(v, base[k])) delete next[k];
      else next[k] = v;
      return next;
    });
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (changed.length === 0) {
      notify("Nothing to save: no field was changed");
      return;
    }
    mutation.mutate({
      project,
      slug,
      staging: viewingStaging,
      fields: Object.fromEntries(changed.map((k) => [k, values[k]])),
      updateMask: { paths: changed.map((k) => PATHS[k]) },
      expectedVersion: startedAt,
    });
  };
  return (
    <form onSubmit={submit} noValidate aria-labelledby="edit-heading">
      <h2 id="edit-heading">{viewingStaging ? "Edit the staging copy" : "Edit the live toolset"}</h2>
      {!viewingStaging && <p className="hint">Iteration mode: a save is live at once.</p>}
      <fieldset disabled={readOnly} className="plain">
        <Field label="Name" error={fieldError("name")}>
          {(p) => <input {...p} value={values.name} onChange={(e) => set("name", e.target.value)} />}
        </Field>
        <Field label="Description" error={fieldError("description")}>
          {(p) => <textarea {...p} rows={3} value={values.description} onChange={(e) => set("description", e.target.value)} />}
        </Field>
        <ToolPicker project={project} selected={values.toolUrns} onChange={(v) => set("toolUrns", v)} error={fieldError("toolUrns")} />
        <PromptPicker
          project={project}
          selected={values.promptTemplateNames}
          onChange={(v) => set("promptTemplateNames", v)}
          error={fieldError("promptTemplateNames")}
        />
        <fieldset>
          <legend>MCP endpoint</legend>
          <Field label="MCP slug" error={fieldError("mcpSlug")} hint="Lowercase letters, digits and dashes; empty = no endpoint.">
            {(p) => <input {...p} value={values.mcpSlug} spellCheck={false} onChange={(e) => set("mcpSlug", e.target.value)} />}
          </Field>
          <Check label="MCP endpoint enabled" checked={values.mcpEnabled} onChange={(v) => set("mcpEnabled", v)} error={fieldError("mcpEnabled")} />
          <Check label="Public endpoint" checked={values.mcpIsPublic} onChange={(v) => set("mcpIsPublic", v)} error={fieldError("mcpIsPublic")} />
        </fieldset>
      </fieldset>
      <ProblemAlert error={mutation.error} placed={Object.values(PATHS).map((p) => `fields.${p}`)} />
      {!readOnly && (
        <div className="actions">
          <button type="submit" disabled={mutation.isPending}>
            Save changes
          </button>
          <button type="button" className="secondary" disabled={changed.length === 0} onClick={() => (setDraft({}), mutation.reset())}>
            Undo edits
          </button>
          <span className="muted">{changed.length > 0 ? `${changed.length} field${changed.length === 1 ? "" : "s"} edited` : ""}</span>
        </div>
      )}
    </form>
  );
}

/** The active deployment's tools, filtered and paged; selected URNs missing from it are kept and shown. */
function ToolPicker({ project, selected, onChange, error }: PickerProps) {
  const deployment = useQuery(SourceService.method.getDeployment, { project }, { retry: false, staleTime: 60_000 });
  const [filter, setFilter] = useState("");
  const [shown, setShown] = useState(TOOLS_PER_PAGE);
  const tools = deployment.data?.deployment?.tools ?? [];
  const q = filter.trim().toLowerCase();
  const matching = q === "" ? tools : tools.filter((t) => `${t.name} ${t.title} ${t.summary}`.toLowerCase().includes(q));
  const noDeployment = deployment.error && ConnectError.from(deployment.error).code === Code.NotFound;
  return (
    <Checklist
      legend="Tools"
      error={error}
      selected={selected}
      onChange={onChange}
      items={matching.slice(0, shown).map((t) => ({ value: t.urn, label: t.name, detail: `${t.httpMethod} ${t.path}` }))}
      known={new Set(tools.map((t) => t.urn))}
      missingLabel={toolNameOf}
      missingNote="not in the active deployment: selected but not served"
      footer={<LoadMore what="tools" hasMore={matching.length > shown} loading={false} onMore={() => setShown((n) => n + TOOLS_PER_PAGE)} />}
    >
      <p className="hint">
        {selected.length} selected of {tools.length} in the active deployment
        {deployment.data?.deployment ? ` (deployment ${String(deployment.data.deployment.seq)})` : ""}.
      </p>
      {noDeployment ? (
        <p className="muted">The project has no deployment yet: there are no tools to choose from.</p>
      ) : (
        <ProblemAlert error={deployment.error} />
      )}
      {tools.length > 10 && (
        <Field label="Filter tools">
          {(p) => <input {...p} type="search" value={filter} onChange={(e) => (setFilter(e.target.value), setShown(TOOLS_PER_PAGE))} />}
        </Field>
      )}
    </Checklist>
  );
}

/** The project's prompt templates, a page at a time; selected names without a template are kept and shown. */
function PromptPicker({ project, selected, onChange, error }: PickerProps) {
  const list = useInfiniteQuery(SourceService.method.listPromptTemplates, { project, pageSize: 100, pageToken: "" }, byPageToken);
  const templates = list.data?.pages.flatMap((p) => p.promptTemplates) ?? [];
  return (
    <Checklist
      legend="Prompts"
      error={error}
      selected={selected}
      onChange={onChange}
      items={templates.map((t) => ({ value: t.name, label: t.name, detail: t.description }))}
      // Only once every page is in can a selected name be said to have no template.
      known={list.hasNextPage ? undefined : new Set(templates.map((t) => t.name))}
      missingNote="no such template: selected but not served"
      footer={<LoadMore what="prompts" hasMore={list.hasNextPage} loading={list.isFetchingNextPage} onMore={() => void list.fetchNextPage()} />}
    >
      <ProblemAlert error={list.error} />
      {list.isSuccess && templates.length === 0 && <p className="muted">The project has no prompt templates.</p>}
    </Checklist>
  );
}

/** What the Edit form gives a picker: the field's current list and its error. */
interface PickerProps {
  project: string;
  selected: string[];
  onChange: (v: string[]) => void;
  error: string | undefined;
}

function DiscardStaging({ view }: { view: ToolsetView }) {
  const { readOnly } = useAccount();
  const queryClient = useQueryClient();
  const notify = useNotify();
  const [open, setOpen] = useState(false);
  const mutation = useMutation(ToolsetService.method.discardStagingVersion, {
    onSuccess: async () => {
      setOpen(false);
      await queryClient.invalidateQueries();
      notify("Staging copy discarded");
    },
  });
  if (readOnly || !view.staging) return null;
  return (
    <section aria-labelledby="discard-heading" className="danger-zone">
      <h2 id="discard-heading">Discard the staging copy</h2>
      <p>Throws away every unpublished change; live and the releases stay as they are.</p>
      <button type="button" className="danger" onClick={() => (mutation.reset(), setOpen(true))}>
        Discard staging copy…
      </button>
      <Dialog title="Discard the staging copy" open={open} onClose={() => setOpen(false)}>
        <p>Every unpublished change of the staging copy is lost. You can create a new staging copy from the current release afterwards.</p>
        <ProblemAlert error={mutation.error} />
        <div className="actions">
          <button
            type="button"
            className="danger"
            disabled={mutation.isPending}
            onClick={() => mutation.mutate({ project: view.project, slug: view.slug })}
          >
            Discard
          </button>
          <button type="button" className="secondary" onClick={() => setOpen(false)}>
            Cancel
          </button>
        </div>
      </Dialog>
    </section>
  );
}
