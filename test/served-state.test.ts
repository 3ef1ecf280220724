import { describe, expect, it } from "vitest";
import type { Change } from "../server/serving/change.js";
import { ServedState, type Filled, type Tags } from "../server/serving/served-state.js";

const tags: Tags = { organizationId: "o1", projectId: "p1", toolsetId: "t1", keyId: "k1" };
const filled = (value: string, bytes = 10, t: Tags = tags): Filled<string> => ({ value, tags: t, bytes });
const at = Date.now();
const CHANGES: Record<string, Change> = {
  organization: { scope: "organization", organizationId: "o1", at },
  project: { scope: "project", organizationId: "o1", projectId: "p9", at },
  key: { scope: "key", organizationId: "o1", keyId: "k1", at },
  sources: { scope: "sources", organizationId: "o1", projectId: "p1", at },
  toolset: { scope: "toolset", organizationId: "o1", projectId: "p1", toolsetId: "t1", at },
};
const UNRELATED: Change[] = [
  { scope: "organization", organizationId: "o2", at },
  { scope: "key", organizationId: "o1", keyId: "k2", at },
  { scope: "sources", organizationId: "o1", projectId: "p2", at },
  { scope: "toolset", organizationId: "o1", projectId: "p1", toolsetId: "t2", at },
];

function enabledState(maxBytes = 1_000): ServedState {
  const state = new ServedState({ maxBytes });
  state.setEnabled(true);
  return state;
}

/** A promise and the function that settles it. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

describe("ServedState", () => {
  it("serves a filled value from memory until a change touching it", async () => {
    for (const [name, change] of Object.entries(CHANGES)) {
      const state = enabledState();
      let fills = 0;
      const fill = async () => filled(`v${++fills}`);
      expect(await state.get("a", fill)).toBe("v1");
      expect(await state.get("a", fill)).toBe("v1");
      for (const unrelated of UNRELATED) state.apply(unrelated);
      expect(await state.get("a", fill), `after unrelated changes (${name})`).toBe("v1");
      state.apply(change);
      expect(await state.get("a", fill), `after a ${name} change`).toBe("v2");
    }
  });

  it("does not store a fill that a change touched while it read (the race)", async () => {
    const read = gate();
    const proceed = gate();
    const state = new ServedState({
      maxBytes: 1_000,
      beforeStore: async () => {
        read.open();
        await proceed.promise;
      },
    });
    state.setEnabled(true);
    const first = state.get("a", async () => filled("stale"));
    await read.promise; // the fill has read the old state
    state.apply(CHANGES["toolset"]!); // the notice of a commit arrives before it stores
    proceed.open();
    expect(await first).toBe("stale"); // the caller that raced gets what it read...
    expect(state.stats.discardedFills).toBe(1);
    expect(await state.get("a", async () => filled("fresh"))).toBe("fresh"); // ...but nothing stale was kept
  });

  it("does not join a fill that started before a change", async () => {
    const state = enabledState();
    const slow = gate();
    const first = state.get("a", async () => {
      await slow.promise;
      return filled("old");
    });
    const joined = state.get("a", async () => filled("never"));
    state.apply(CHANGES["sources"]!);
    const after = state.get("a", async () => filled("new"));
    slow.open();
    expect([await first, await joined, await after]).toEqual(["old", "old", "new"]);
  });

  it("holds nothing while the feed is down, and drops everything when it goes down or comes back", async () => {
    const state = new ServedState({ maxBytes: 1_000 });
    let fills = 0;
    const fill = async () => filled(`v${++fills}`);
    await state.get("a", fill);
    await state.get("a", fill);
    expect(fills).toBe(2); // down: every read fills
    state.setEnabled(true);
    await state.get("a", fill);
    await state.get("a", fill);
    expect(fills).toBe(3);
    state.setEnabled(false);
    state.setEnabled(true);
    await state.get("a", fill);
    expect(fills).toBe(4);
  });

  it("a reset fails the fills under way", async () => {
    const state = enabledState();
    const slow = gate();
    const pending = state.get("a", async () => {
      await slow.promise;
      return filled("before-reset");
    });
    state.setEnabled(true); // the feed came back: notices may have been missed
    slow.open();
    await pending;
    expect(await state.get("a", async () => filled("after"))).toBe("after");
  });

  it("keeps its touch records bounded under constant load, failing the fills under way instead", async () => {
    const state = enabledState();
    const slow = gate();
    const pending = state.get("a", async () => {
      await slow.promise;
      return filled("v1");
    });
    for (let i = 0; i < 10_001; i++) state.apply({ scope: "toolset", organizationId: "o1", projectId: "p2", toolsetId: `other-${i}`, at });
    slow.open();
    await pending;
    expect(state.stats.discardedFills).toBe(1); // no change touched it, but its record may have been forgotten
    expect(await state.get("a", async () => filled("v2"))).toBe("v2");
  });

  it("stays within its weight bound, dropping the least recently used", async () => {
    const state = enabledState(100);
    await state.get("a", async () => filled("a", 40));
    await state.get("b", async () => filled("b", 40));
    await state.get("a", async () => filled("x", 40)); // a is now the most recent
    await state.get("c", async () => filled("c", 40)); // 120 > 100: b goes
    expect(state.stats.bytes).toBe(80);
    expect(state.stats.evictions).toBe(1);
    expect(await state.get("b", async () => filled("b2", 40))).toBe("b2");
    await state.get("huge", async () => filled("huge", 101)); // heavier than the bound: never held
    expect(await state.get("huge", async () => filled("huge2", 101))).toBe("huge2");
    expect(state.stats.bytes).toBeLessThanOrEqual(100);
  });

  it("answers but does not keep a fill marked keep: false", async () => {
    const state = enabledState();
    let fills = 0;
    const fill = async (): Promise<Filled<string | undefined>> => ({ value: undefined, tags, bytes: 0, keep: (fills++, false) });
    await state.get("missing", fill);
    await state.get("missing", fill);
    expect(fills).toBe(2);
  });

  it("with a bound of 0 keeps nothing", async () => {
    const state = enabledState(0);
    expect(state.enabled).toBe(false);
    let fills = 0;
    await state.get("a", async () => filled(`v${++fills}`));
    await state.get("a", async () => filled(`v${++fills}`));
    expect(fills).toBe(2);
  });
});
