import { useEffect, useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from "react";

// A few path routes under /console/ need no router library: the History API,
// one store, and links that push instead of reloading.
export const BASE = "/console";
const listeners = new Set<() => void>();
window.addEventListener("popstate", () => notify());

function notify(): void {
  for (const l of listeners) l();
}

/** The console path (after /console) and the search string. */
export function useLocation(): { path: string; search: URLSearchParams } {
  const href = useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => window.location.pathname + window.location.search,
  );
  const url = new URL(href, window.location.origin);
  const path = url.pathname.startsWith(BASE) ? url.pathname.slice(BASE.length) || "/" : "/";
  return { path, search: url.searchParams };
}

/** Goes to a console path (e.g. `/projects/default`) without a reload. */
export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  const href = BASE + to;
  if (opts.replace) window.history.replaceState(null, "", href);
  else window.history.pushState(null, "", href);
  notify();
  window.scrollTo(0, 0);
}

/** An anchor to a console path; a plain click navigates in place, modified clicks behave as links do. */
export function Link({ to, ...rest }: { to: string } & Omit<AnchorHTMLAttributes<HTMLAnchorElement>, "href">) {
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    rest.onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return <a {...rest} href={BASE + to} onClick={onClick} />;
}

/** Path segments, URI-decoded: `/projects/a/toolsets/b` → ["projects", "a", "toolsets", "b"]. */
export function segments(path: string): string[] {
  return path
    .split("/")
    .filter(Boolean)
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
}

/** A path built from segments, each URI-encoded. */
export function pathOf(...parts: (string | number | bigint)[]): string {
  return "/" + parts.map((p) => encodeURIComponent(String(p))).join("/");
}

/** Names the browser tab (and history entry) after the screen. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · Toolset console` : "Toolset console";
  }, [title]);
}
