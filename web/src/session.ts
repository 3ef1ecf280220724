import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { useSyncExternalStore } from "react";

// The API key lives in sessionStorage: it survives a reload of the tab and
// ends with the browser session. Never localStorage, never a URL, never a cookie
// (decision 79).
const STORAGE_KEY = "toolset-console.api-key";
const listeners = new Set<() => void>();

function read(): string | null {
  try {
    return window.sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

let current = read();

/** Keeps `key` for this browser session; null forgets it (sign out). */
export function setApiKey(key: string | null): void {
  if (key === null) window.sessionStorage.removeItem(STORAGE_KEY);
  else window.sessionStorage.setItem(STORAGE_KEY, key);
  current = key;
  for (const l of listeners) l();
}

/** The key of this session, or null before sign-in. */
export function useApiKey(): string | null {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => current,
  );
}

const withKey: Interceptor = (next) => async (req) => {
  if (current !== null) req.header.set("authorization", `Bearer ${current}`);
  return next(req);
};

/** Connect over fetch to the service that served the page (same origin: no CORS). */
export const transport: Transport = createConnectTransport({
  baseUrl: window.location.origin,
  interceptors: [withKey],
});
