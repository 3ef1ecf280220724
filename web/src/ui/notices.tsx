import { createContext, useCallback, useContext, useState, type ReactNode } from "react";

// Success messages ("Saved", "Published release 4") in one polite live region.
const NoticeContext = createContext<(text: string) => void>(() => {});

export function NoticeProvider({ children }: { children: ReactNode }) {
  const [text, setText] = useState("");
  const notify = useCallback((t: string) => {
    setText("");
    // A new node each time, so a repeated message is announced again.
    requestAnimationFrame(() => setText(t));
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
