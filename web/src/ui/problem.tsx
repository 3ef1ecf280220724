import type { Problem } from "../problems.js";
import { describeProblem } from "../problems.js";

/** A failed call's message, announced to screen readers as it appears. */
export function ProblemAlert({ error }: { error: unknown }) {
  if (error === null || error === undefined) return null;
  const p: Problem = describeProblem(error);
  return (
    <p role="alert" className="problem">
      {p.message}
    </p>
  );
}
