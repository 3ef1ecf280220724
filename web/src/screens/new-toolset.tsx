import { useMutation } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { ToolsetService } from "../../../gen/toolsets/v1/toolsets_pb.js";
import { describeProblem, fieldProblem } from "../problems.js";
import { navigate, pathOf } from "../router.js";
import { Dialog } from "../ui/dialog.js";
import { Field } from "../ui/field.js";
import { ProblemAlert } from "../ui/problem.js";

/** "New toolset…": a name (and optionally a slug and description); tools are chosen on the toolset's Edit tab. */
export function NewToolset({ project }: { project: string }) {
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [slug, setSlug] = useState("");
  const [description, setDescription] = useState("");
  const mutation = useMutation(ToolsetService.method.createToolset, {
    onSuccess: async (res) => {
      setOpen(false);
      await queryClient.invalidateQueries();
      if (res.toolset) navigate(pathOf("projects", project, "toolsets", res.toolset.slug, "edit"));
    },
  });
  const problem = mutation.error ? describeProblem(mutation.error) : undefined;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    mutation.mutate({ project, name, slug, description });
  };
  return (
    <>
      <button
        type="button"
        onClick={() => {
          mutation.reset();
          setOpen(true);
        }}
      >
        New toolset…
      </button>
      <Dialog title="New toolset" open={open} onClose={() => setOpen(false)}>
        <form onSubmit={submit} noValidate>
          <Field label="Name" error={fieldProblem(problem, "name")}>
            {(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} />}
          </Field>
          <Field label="Slug" error={fieldProblem(problem, "slug")} hint="Optional: made from the name when empty.">
            {(p) => <input {...p} value={slug} spellCheck={false} onChange={(e) => setSlug(e.target.value)} />}
          </Field>
          <Field label="Description" error={fieldProblem(problem, "description")}>
            {(p) => <textarea {...p} rows={2} value={description} onChange={(e) => setDescription(e.target.value)} />}
          </Field>
          <p className="hint">It starts in iteration mode with no tools: choose them on its Edit tab next.</p>
          <ProblemAlert error={mutation.error} placed={["name", "slug", "description"]} />
          <div className="actions">
            <button type="submit" disabled={mutation.isPending}>
              Create toolset
            </button>
            <button type="button" className="secondary" onClick={() => setOpen(false)}>
              Cancel
            </button>
          </div>
        </form>
      </Dialog>
    </>
  );
}
