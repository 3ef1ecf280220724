import { describeProblem, unplacedFields } from "../problems.js";

/**
 * A failed call's message, announced as it appears. Field violations of the
 * `placed` paths are shown next to their fields by the form; any other is
 * listed here, so no refusal goes unexplained.
 */
export function ProblemAlert({ error, placed = [] }: { error: unknown; placed?: readonly string[] }) {
  if (error === null || error === undefined) return null;
  const p = describeProblem(error);
  const rest = unplacedFields(p, placed);
  return (
    <div role="alert" className="problem">
      <p>{rest.length > 0 && rest.length === Object.keys(p.fields).length ? "The request was refused:" : p.message}</p>
      {rest.length > 0 && (
        <ul>
          {rest.map(([field, text]) => (
            <li key={field}>
              <code>{field}</code>: {text}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
