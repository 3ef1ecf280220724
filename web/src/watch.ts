import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { ReleaseService, type Target } from "../../gen/releases/v1/releases_pb.js";
import { transport } from "./session.js";

/** Whether the page is following the toolset's changes. */
export type FollowState = "connecting" | "following" | "reconnecting" | "gone" | "paused";

const MAX_BACKOFF_MS = 30_000;

/** The state of several streams as one: the worst of them. */
function overall(states: Iterable<FollowState>): FollowState {
  const all = [...states];
  for (const s of ["gone", "reconnecting", "connecting"] as const) if (all.includes(s)) return s;
  return all.length > 0 ? "following" : "connecting";
}

/**
 * Follows a toolset with WatchToolset (one stream per target) and refreshes
 * every query when what a target serves changes, so a publish or rollback made
 * elsewhere shows without a reload. A stream's first message refreshes too
 * unless its etag is the one last seen (a page still loading, a reconnect, a
 * tab shown again may have missed something). A broken stream is reopened
 * with backoff; NOT_FOUND or a refused key stops it until `generation`
 * changes (pass what brings a target back, e.g. the staging copy's id).
 */
export function useFollowToolset(project: string, slug: string, targets: readonly Target[], generation = ""): FollowState {
  const queryClient = useQueryClient();
  const [state, setState] = useState<FollowState>("connecting");
  const visible = usePageVisible();
  const lastEtag = useRef(new Map<string, string>());
  const key = targets.join(",");
  useEffect(() => {
    // A hidden tab holds no stream: over HTTP/1.1 a browser allows about six
    // connections per host, and every open stream keeps one.
    if (!visible) return;
    const stop = new AbortController();
    const client = createClient(ReleaseService, transport);
    const refresh = () => void queryClient.invalidateQueries();
    const states = new Map<Target, FollowState>();
    const report = (t: Target, s: FollowState) => {
      states.set(t, s);
      setState(overall(states.values()));
    };
    const follow = async (target: Target) => {
      const seenKey = `${project}/${slug}/${target}`;
      for (let attempt = 0; !stop.signal.aborted; attempt++) {
        let first = true;
        try {
          for await (const m of client.watchToolset({ project, slug, target }, { signal: stop.signal })) {
            attempt = 0;
            report(target, "following");
            if (m.keepalive) continue;
            if (!first || m.etag !== lastEtag.current.get(seenKey)) refresh();
            first = false;
            lastEtag.current.set(seenKey, m.etag);
          }
        } catch (err) {
          if (stop.signal.aborted) return;
          const code = ConnectError.from(err).code;
          if (code === Code.NotFound || code === Code.Unauthenticated || code === Code.PermissionDenied) {
            // The toolset or the target went away, or the key did: show it, stop following.
            lastEtag.current.delete(seenKey);
            report(target, "gone");
            refresh();
            return;
          }
        }
        if (stop.signal.aborted) return;
        report(target, "reconnecting");
        await new Promise((r) => setTimeout(r, Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt)));
      }
    };
    const list = key
      .split(",")
      .filter(Boolean)
      .map((t) => Number(t) as Target);
    for (const t of list) states.set(t, "connecting");
    for (const t of list) void follow(t);
    return () => stop.abort();
  }, [project, slug, key, generation, queryClient, visible]);
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
