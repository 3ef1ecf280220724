import { useId, type ReactNode } from "react";
import { Check } from "./field.js";

/** One choice of a {@link Checklist}. */
export interface ChecklistItem {
  value: string;
  label: string;
  detail?: string | undefined;
}

/**
 * A labelled group of checkboxes choosing a list of values (tools, prompt
 * templates). `items` are the choices shown (a page of them); selected values
 * that `known` lacks are listed after them with `missingNote`, so they can be
 * seen and unselected — pass `known` only once it is complete.
 */
export function Checklist({
  legend,
  error,
  selected,
  onChange,
  items,
  known,
  missingLabel = (v) => v,
  missingNote,
  children,
  footer,
}: {
  legend: string;
  error: string | undefined;
  selected: readonly string[];
  onChange: (v: string[]) => void;
  items: readonly ChecklistItem[];
  known: ReadonlySet<string> | undefined;
  missingLabel?: (value: string) => string;
  missingNote: string;
  /** Above the list: hints, alerts, a filter. */
  children?: ReactNode;
  /** Below the list: the pager. */
  footer?: ReactNode;
}) {
  const errorId = useId();
  const chosen = new Set(selected);
  const missing = known === undefined ? [] : selected.filter((v) => !known.has(v));
  const toggle = (value: string, on: boolean) => onChange(on ? [...selected, value] : selected.filter((v) => v !== value));
  return (
    <fieldset className="tools" aria-describedby={error ? errorId : undefined}>
      <legend>{legend}</legend>
      {children}
      {error && (
        <p id={errorId} className="field-error">
          {error}
        </p>
      )}
      <ul className="checklist">
        {items.map((item) => (
          <li key={item.value}>
            <Check label={item.label} checked={chosen.has(item.value)} onChange={(on) => toggle(item.value, on)} />
            {item.detail && <span className="muted">{item.detail}</span>}
          </li>
        ))}
        {missing.map((value) => (
          <li key={value}>
            <Check label={missingLabel(value)} checked onChange={(on) => toggle(value, on)} />
            <span className="muted">{missingNote}</span>
          </li>
        ))}
      </ul>
      {footer}
    </fieldset>
  );
}
