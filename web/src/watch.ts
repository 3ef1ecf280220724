import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { ReleaseService, type Target } from "../../gen/releases/v1/releases_pb.js";
import { transport } from "./session.js";

/** Whether the page is following the toolset's changes. */
export type FollowState = "connecting" | "following" | "reconnecting" | "gone" | "paused";

const MAX_BACKOFF_MS = 30_000;

/**
 * Follows a toolset with WatchToolset (one stream per target) and refreshes
 * every query when what a target serves changes, so a publish or rollback made
 * elsewhere shows without a reload. Streams end when the page leaves; a
 * broken stream is reopened with backoff, and whatever it missed meanwhile is
 * refetched.
 */
export function useFollowToolset(project: string, slug: string, targets: readonly Target[]): FollowState {
  const queryClient = useQueryClient();
  const [state, setState] = useState<FollowState>("connecting");
  const visible = usePageVisible();
  const key = targets.join(",");
  useEffect(() => {
    // A hidden tab holds no stream: over HTTP/1.1 a browser allows about six
    // connections per host, and every open stream keeps one. Coming back
    // reconnects, and the first message refreshes what the tab missed.
    if (!visible) return;
    const stop = new AbortController();
    const client = createClient(ReleaseService, transport);
    const refresh = () => void queryClient.invalidateQueries();
    const follow = async (target: Target) => {
      let seen = "";
      for (let attempt = 0; !stop.signal.aborted; attempt++) {
        try {
          for await (const m of client.watchToolset({ project, slug, target }, { signal: stop.signal })) {
            attempt = 0;
            setState("following");
            if (m.keepalive) continue;
            // The first message is the state the page already loaded; every later one
            // (a new etag, moved MCP settings, or a reconnect's first) is news.
            if (seen !== "") refresh();
            seen = m.etag || "seen";
          }
        } catch (err) {
          if (stop.signal.aborted) return;
          const code = ConnectError.from(err).code;
          if (code === Code.NotFound || code === Code.Unauthenticated || code === Code.PermissionDenied) {
            // The toolset or staging copy went away, or the key did: show it, stop following.
            setState("gone");
            refresh();
            return;
          }
        }
        if (stop.signal.aborted) return;
        setState("reconnecting");
        await new Promise((r) => setTimeout(r, Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt)));
      }
    };
    for (const t of key.split(",").filter(Boolean)) void follow(Number(t) as Target);
    return () => stop.abort();
  }, [project, slug, key, queryClient, visible]);
  return visible ? state : "paused";
}

function usePageVisible(): boolean {
  const [visible, setVisible] = useState(() => document.visibilityState !== "hidden");
  useEffect(() => {
    const onChange = () => setVisible(document.visibilityState !== "hidden");
    document.addEventListener("visibilitychange", onChange);
    return () => document.removeEventListener("visibilitychange", onChange);
  }, []);
  return visible;
}
