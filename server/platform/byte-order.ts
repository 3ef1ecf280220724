// A surrogate pair is the one place where UTF-16 code-unit order (JavaScript's <)
// differs from UTF-8 byte order (a character above U+FFFF sorts before U+E000–U+FFFF).
const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * UTF-8 byte order, identical in every locale and process: the order of
 * `COLLATE "C"` in the queries (tool URNs, prompt names, schema property names),
 * so code and SQL always agree.
 */
export function byteOrder(a: string, b: string): number {
  if (SURROGATE.test(a) || SURROGATE.test(b)) return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
  return a < b ? -1 : a > b ? 1 : 0;
}
