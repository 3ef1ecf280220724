import { useInfiniteQuery, useMutation } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type FormEvent } from "react";
import { ToolsetService, type Toolset, type ToolVariation } from "../../../gen/toolsets/v1/toolsets_pb.js";
import { useAccount } from "../account.js";
import { toolNameOf } from "../changes.js";
import { describeProblem, fieldProblem } from "../problems.js";
import { Field } from "../ui/field.js";
import { useNotify } from "../ui/notices.js";
import { ProblemAlert } from "../ui/problem.js";
import type { ToolsetView } from "./toolset.js";
import { byPageToken } from "../paging.js";

/** The request paths the variation form shows next to its fields. */
const PLACED = ["variation.name", "variation.description", "variation.title", "variation.confirm", "variation.confirm_prompt"];

interface VariationDraft {
  name: string;
  description: string;
  title: string;
  /** "" inherits; "yes" / "no" override. */
  confirm: "" | "yes" | "no";
  confirmPrompt: string;
}

function draftOf(v: ToolVariation | undefined): VariationDraft {
  return {
    name: v?.name ?? "",
    description: v?.description ?? "",
    title: v?.title ?? "",
    confirm: v?.confirm === undefined ? "" : v.confirm ? "yes" : "no",
    confirmPrompt: v?.confirmPrompt ?? "",
  };
}

/** Per-tool overrides of this toolset (staging copy or live), one tool at a time. */
export function VariationsSection({ view, toolset }: { view: ToolsetView; toolset: Toolset }) {
  const { readOnly } = useAccount();
  const { project, slug, viewingStaging } = view;
  const scope = { toolsetSlug: slug, staging: viewingStaging };
  const list = useInfiniteQuery(ToolsetService.method.listToolVariations, { project, scope, pageSize: 500, pageToken: "" }, byPageToken);
  // Every page (a toolset has at most 1000 tools): a form must start from the variation there is.
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = list;
  useEffect(() => {
    if (hasNextPage && !isFetchingNextPage) void fetchNextPage();
  }, [hasNextPage, isFetchingNextPage, fetchNextPage]);
  const complete = list.isSuccess && !hasNextPage;
  const variations = new Map((list.data?.pages ?? []).flatMap((p) => p.variations).map((v) => [v.srcToolUrn, v]));
  const [urn, setUrn] = useState(toolset.toolUrns[0] ?? "");
  const current = variations.get(urn);
  return (
    <section aria-labelledby="variations-heading">
      <h2 id="variations-heading">Variations</h2>
      <p className="hint">
        Override what MCP clients see of a tool in this toolset. Empty fields inherit the tool’s own values (and the project’s global variations).
      </p>
      <ProblemAlert error={list.error} />
      {toolset.toolUrns.length === 0 ? (
        <p className="muted">Select tools first: variations apply to the selected tools.</p>
      ) : (
        <>
          <Field label="Tool">
            {(p) => (
              <select {...p} value={urn} onChange={(e) => setUrn(e.target.value)}>
                {toolset.toolUrns.map((u) => (
                  <option key={u} value={u}>
                    {toolNameOf(u)}
                    {variations.has(u) ? " (varied)" : ""}
                  </option>
                ))}
              </select>
            )}
          </Field>
          {!complete && !list.error && <p aria-busy="true">Loading variations…</p>}
          {urn !== "" && complete && (
            <VariationForm key={`${urn}@${current?.id ?? "none"}`} project={project} scope={scope} urn={urn} current={current} readOnly={readOnly} />
          )}
        </>
      )}
    </section>
  );
}

function VariationForm({
  project,
  scope,
  urn,
  current,
  readOnly,
}: {
  project: string;
  scope: { toolsetSlug: string; staging: boolean };
  urn: string;
  current: ToolVariation | undefined;
  readOnly: boolean;
}) {
  const queryClient = useQueryClient();
  const notify = useNotify();
  const [d, setD] = useState(() => draftOf(current));
  const done = (text: string) => async () => {
    await queryClient.invalidateQueries();
    notify(text);
  };
  const upsert = useMutation(ToolsetService.method.upsertToolVariation, { onSuccess: done("Variation saved") });
  const remove = useMutation(ToolsetService.method.deleteToolVariation, { onSuccess: done("Variation removed") });
  const problem = upsert.error ? describeProblem(upsert.error) : undefined;
  const err = (f: string) => fieldProblem(problem, `variation.${f}`);
  const opt = (s: string) => (s.trim() === "" ? undefined : s);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    remove.reset();
    const v = {
      srcToolUrn: urn,
      name: opt(d.name),
      description: opt(d.description),
      title: opt(d.title),
      confirm: d.confirm === "" ? undefined : d.confirm === "yes",
      confirmPrompt: opt(d.confirmPrompt),
    };
    // Unset fields are left out: they inherit.
    upsert.mutate({ project, scope, variation: Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined)) });
  };
  return (
    <form onSubmit={submit} noValidate aria-label={`Variation of ${toolNameOf(urn)}`}>
      <fieldset disabled={readOnly} className="plain">
        <Field label="Name override" error={err("name")} hint="The name AI clients call the tool by.">
          {(p) => <input {...p} value={d.name} spellCheck={false} onChange={(e) => setD({ ...d, name: e.target.value })} />}
        </Field>
        <Field label="Description override" error={err("description")}>
          {(p) => <textarea {...p} rows={2} value={d.description} onChange={(e) => setD({ ...d, description: e.target.value })} />}
        </Field>
        <Field label="Title override" error={err("title")}>
          {(p) => <input {...p} value={d.title} onChange={(e) => setD({ ...d, title: e.target.value })} />}
        </Field>
        <Field label="Require confirmation" error={err("confirm")} hint="Whether the user must accept each call first.">
          {(p) => (
            <select {...p} value={d.confirm} onChange={(e) => setD({ ...d, confirm: e.target.value as VariationDraft["confirm"] })}>
              <option value="">Inherit (the tool’s or the global variation’s)</option>
              <option value="yes">Yes: ask before each call</option>
              <option value="no">No</option>
            </select>
          )}
        </Field>
        <Field label="Confirmation prompt" error={err("confirm_prompt")} hint="The question the user must accept before each call.">
          {(p) => <input {...p} value={d.confirmPrompt} onChange={(e) => setD({ ...d, confirmPrompt: e.target.value })} />}
        </Field>
      </fieldset>
      <ProblemAlert error={upsert.error} placed={PLACED} />
      <ProblemAlert error={remove.error} />
      {!readOnly && (
        <div className="actions">
          <button type="submit" disabled={upsert.isPending}>
            Save variation
          </button>
          {current && (
            <button
              type="button"
              className="secondary"
              disabled={remove.isPending}
              onClick={() => (upsert.reset(), remove.mutate({ project, scope, srcToolUrn: urn }))}
            >
              Remove variation
            </button>
          )}
          {current && <span className="muted">version {String(current.version)}</span>}
        </div>
      )}
    </form>
  );
}
