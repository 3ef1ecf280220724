import { describe, expect, it } from "vitest";
import { contentKey, WeightedLru } from "../server/resolve/cache.js";

describe("WeightedLru", () => {
  it("evicts least recently used entries until the total weight fits", () => {
    const lru = new WeightedLru<number[]>(10, (v) => v.length);
    lru.set("a", [1, 2, 3, 4]);
    lru.set("b", [1, 2, 3, 4]);
    expect(lru.get("a")).toHaveLength(4); // a is now the most recent
    lru.set("c", [1, 2, 3]); // 11 > 10: b goes
    expect(lru.get("b")).toBeUndefined();
    expect(lru.get("a")).toBeDefined();
    expect(lru.get("c")).toBeDefined();
    lru.set(
      "huge",
      Array.from({ length: 11 }, () => 0),
    ); // heavier than the bound: not kept, nothing evicted
    expect(lru.get("huge")).toBeUndefined();
    expect(lru.size).toBe(2);
  });

  it("with a bound of 0 keeps nothing", () => {
    const lru = new WeightedLru<number[]>(0, (v) => v.length + 1);
    lru.set("a", []);
    expect(lru.get("a")).toBeUndefined();
  });
});

describe("contentKey", () => {
  const selection = { name: "n", description: "d", toolUrns: ["tools:http:a:b"], promptTemplateNames: ["p"] };
  const pins = { deploymentId: "d1", globalVariationsVersionId: null, toolsetVariationsVersionId: "t1", promptTemplateIds: ["p1"] };
  it("changes with every pin and every selected field", () => {
    const base = contentKey(selection, pins);
    expect(contentKey({ ...selection }, { ...pins })).toBe(base);
    const variants = [
      contentKey({ ...selection, name: "m" }, pins),
      contentKey({ ...selection, description: "e" }, pins),
      contentKey({ ...selection, toolUrns: [] }, pins),
      contentKey({ ...selection, promptTemplateNames: [] }, pins),
      contentKey(selection, { ...pins, deploymentId: "d2" }),
      contentKey(selection, { ...pins, globalVariationsVersionId: "g1" }),
      contentKey(selection, { ...pins, toolsetVariationsVersionId: null }),
      contentKey(selection, { ...pins, promptTemplateIds: ["p2"] }),
    ];
    expect(new Set([base, ...variants]).size).toBe(variants.length + 1);
  });
});
