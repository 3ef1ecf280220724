import { describe, expect, it } from "vitest";
import { byteOrder } from "../server/platform/byte-order.js";

describe("byteOrder", () => {
  it('sorts as UTF-8 bytes do (COLLATE "C"), also where UTF-16 code units disagree', () => {
    const words = ["tools:http:api:b", "Zebra", "alpha", "Ärger", "\uE000private", "😀emoji", "a", "", "tools:http:api:a"];
    const byBytes = [...words].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect([...words].sort(byteOrder)).toEqual(byBytes);
    // The case that needs more than `<`: U+1F600 is after U+E000 in UTF-8, before it in UTF-16.
    expect(byteOrder("\uE000", "😀")).toBe(-1);
    expect(byteOrder("same", "same")).toBe(0);
  });
});
