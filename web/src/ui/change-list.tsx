import { useState } from "react";
import type { Change } from "../../../gen/releases/v1/releases_pb.js";
import { breakingFirst, describeChange, hasValues } from "../changes.js";
import { LoadMore } from "./load-more.js";

const PER_PAGE = 100;

/** A value of a change, shortened: JSON schemas can be long. */
function Value({ text, label }: { text: string; label: string }) {
  if (text === "") return <span className="muted">({label}: none)</span>;
  if (text.length <= 120) return <code aria-label={label}>{text}</code>;
  return (
    <details>
      <summary>{label}</summary>
      <pre>{text}</pre>
    </details>
  );
}

/** Changes with the breaking ones first, each marked. */
export function ChangeList({ changes, empty }: { changes: readonly Change[]; empty: string }) {
  const [shown, setShown] = useState(PER_PAGE);
  if (changes.length === 0) return <p className="muted">{empty}</p>;
  const sorted = breakingFirst(changes);
  const breaking = sorted.filter((c) => c.breaking).length;
  return (
    <>
      <p>
        {changes.length} change{changes.length === 1 ? "" : "s"}
        {breaking > 0 ? `, ${breaking} breaking: MCP clients that work today can fail after them.` : ", none breaking."}
      </p>
      <ul className="changes">
        {sorted.slice(0, shown).map((c, i) => (
          <li key={i} className={c.breaking ? "change breaking" : "change"}>
            {c.breaking && <strong className="badge badge-breaking">Breaking</strong>} <span>{describeChange(c)}</span>
            {hasValues(c) && (
              <div className="values">
                <Value text={c.before} label="before" /> → <Value text={c.after} label="after" />
              </div>
            )}
          </li>
        ))}
      </ul>
      <LoadMore what="changes" hasMore={sorted.length > shown} loading={false} onMore={() => setShown((n) => n + PER_PAGE)} />
    </>
  );
}
