import { useEffect, useId, useLayoutEffect, useRef, type ReactNode } from "react";

/**
 * A modal dialog on the native <dialog>: focus moves into it and the page
 * behind is inert, Escape closes it, and focus returns to what opened it —
 * also when the dialog is removed while open, and, when that control is gone
 * (a rolled-back row's button), to the page content.
 */
export function Dialog({ title, open, onClose, children }: { title: string; open: boolean; onClose: () => void; children: ReactNode }) {
  const ref = useRef<HTMLDialogElement>(null);
  const opener = useRef<Element | null>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      opener.current = document.activeElement;
      d.showModal();
    }
    if (!open && d.open) close(d, opener.current);
  }, [open]);
  // Before React removes the element: a dialog unmounted while open still gives focus back.
  useLayoutEffect(() => {
    const d = ref.current;
    return () => {
      if (d?.open) close(d, opener.current);
    };
  }, []);
  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      {open && (
        <>
          <h2 id={titleId}>{title}</h2>
          {children}
        </>
      )}
    </dialog>
  );
}

function close(d: HTMLDialogElement, opener: Element | null): void {
  d.close();
  // Focus the opener once the commit that closed the dialog is done (it may be gone by then).
  requestAnimationFrame(() => {
    if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
    else document.getElementById("main")?.focus();
  });
}
