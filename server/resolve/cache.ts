import { createHash } from "node:crypto";
import type { SourcePins } from "../model/resolution.js";
import type { ToolsetSelection } from "./resolve.js";

/**
 * The key of what a selection resolves to against pinned sources. Every pin is
 * the id of an immutable row (deployment, variation group version, prompt
 * revision), so the content behind a key never changes: a cache keyed by it
 * needs no invalidation and is correct on every replica.
 */
export function contentKey(selection: ToolsetSelection, pins: SourcePins): string {
  const parts = [
    selection.name,
    selection.description,
    selection.toolUrns,
    selection.promptTemplateNames,
    pins.deploymentId,
    pins.globalVariationsVersionId,
    pins.toolsetVariationsVersionId,
    pins.promptTemplateIds,
  ];
  return createHash("sha256").update(JSON.stringify(parts)).digest("base64url");
}

/**
 * A least-recently-used map bounded by total weight (for resolved toolsets: their
 * number of tools, so a toolset with 1,000 tools weighs 1,000), so memory stays
 * bounded whatever the sizes of the values.
 */
export class WeightedLru<V> {
  private readonly entries = new Map<string, { value: V; weight: number }>();
  private total = 0;

  constructor(
    private readonly maxWeight: number,
    private readonly weigh: (value: V) => number,
  ) {}

  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    // Re-insert: Map iteration order is insertion order, so the oldest is first.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V): void {
    const weight = this.weigh(value);
    if (weight > this.maxWeight) return;
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      this.total -= old.weight;
    }
    this.entries.set(key, { value, weight });
    this.total += weight;
    for (const [k, e] of this.entries) {
      if (this.total <= this.maxWeight) break;
      this.entries.delete(k);
      this.total -= e.weight;
    }
  }

  /** Entries held. */
  get size(): number {
    return this.entries.size;
  }
}
