// The table `npm run bench` prints: one row per figure, with its baseline, the
// ratio and the goal beside it. Progress goes to stderr, the table to stdout.

/** One figure. */
export interface Row {
  bench: string;
  case: string;
  figure: string;
  baseline?: string;
  ratio?: string;
  goal?: string;
  /** Whether the goal is met; undefined when there is no goal or no figure. */
  met?: boolean | undefined;
}

export const rows: Row[] = [];

export function add(row: Row): void {
  rows.push(row);
  const extra = [row.baseline && `baseline ${row.baseline}`, row.ratio && `ratio ${row.ratio}`, row.goal && `goal ${row.goal}${mark(row.met)}`]
    .filter(Boolean)
    .join(", ");
  progress(`${row.bench} · ${row.case}: ${row.figure}${extra ? ` (${extra})` : ""}`);
}

/** A line on stderr, while the benchmarks run. */
export function progress(line: string): void {
  process.stderr.write(`  ${line}\n`);
}

function mark(met: boolean | undefined): string {
  return met === undefined ? "" : met ? " ✓" : " ✗ missed";
}

/** The rows as a Markdown table with aligned columns. */
export function table(): string {
  const header = ["bench", "case", "figure", "baseline", "ratio", "goal", "met"];
  const cells = rows.map((r) => [
    r.bench,
    r.case,
    r.figure,
    r.baseline ?? "",
    r.ratio ?? "",
    r.goal ?? "",
    r.met === undefined ? "" : r.met ? "yes" : "**no**",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((s, i) => s.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...cells.map(line)].join("\n");
}

/** 1234.5 → "1,235". */
export function n0(x: number): string {
  return Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "–";
}

/** Milliseconds with a precision that suits their size. */
export function ms(x: number): string {
  if (!Number.isFinite(x)) return "–";
  return `${x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0)} ms`;
}

/** A ratio "0.93×". */
export function ratio(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}×` : "–";
}

/** Bytes as "12.3 KiB". */
export function bytes(x: number): string {
  if (!Number.isFinite(x)) return "–";
  if (x < 1024) return `${x} B`;
  if (x < 1024 * 1024) return `${(x / 1024).toFixed(1)} KiB`;
  return `${(x / 1024 / 1024).toFixed(2)} MiB`;
}
