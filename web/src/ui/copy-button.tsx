import { useState } from "react";

/** Copies `text` to the clipboard and says so for two seconds. */
export function CopyButton({ text, label }: { text: string; label: string }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setState("copied");
    } catch {
      setState("failed");
    }
    setTimeout(() => setState("idle"), 2000);
  };
  return (
    <>
      <button type="button" className="secondary small" onClick={() => void copy()}>
        {label}
      </button>
      <span aria-live="polite" className="copy-status">
        {state === "copied" ? "Copied" : state === "failed" ? "Copy failed: select the URL and copy it" : ""}
      </span>
    </>
  );
}
