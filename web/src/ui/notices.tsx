import { createContext, useCallback, useContext, useRef, useState, type ReactNode } from "react";

const SHOWN_MS = 8000;

// Success messages ("Saved", "Published release 4") in one polite live region.
const NoticeContext = createContext<(text: string) => void>(() => {});

export function NoticeProvider({ children }: { children: ReactNode }) {
  const [text, setText] = useState("");
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const notify = useCallback((t: string) => {
    setText("");
    clearTimeout(timer.current);
    // Cleared first, so a repeated message is announced again; gone after a while.
    requestAnimationFrame(() => setText(t));
    timer.current = setTimeout(() => setText(""), SHOWN_MS);
  }, []);
  return (
    <NoticeContext.Provider value={notify}>
      <div role="status" aria-live="polite" className={text ? "notice" : "notice empty"}>
        {text}
      </div>
      {children}
    </NoticeContext.Provider>
  );
}

/** Shows a success message in the notice area. */
export function useNotify(): (text: string) => void {
  return useContext(NoticeContext);
}
