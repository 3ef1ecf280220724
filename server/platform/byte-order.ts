/**
 * Code-unit order, identical in every locale and process. For the ASCII keys it
 * sorts (tool URNs, prompt names, schema property names) it equals byte order,
 * the order of `COLLATE "C"` in the queries, so code and SQL always agree.
 */
export function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
