// The knobs of `npm run bench`, read once from the environment. The defaults
// finish in about 10 minutes on 2 cores; QUICK=1 in about one (a smoke run).

const QUICK = process.env["QUICK"] === "1";

function int(name: string, full: number, quick: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return QUICK ? quick : full;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got ${JSON.stringify(raw)}`);
  return n;
}

function list(name: string, full: string, quick: string): number[] {
  const raw = process.env[name] || (QUICK ? quick : full);
  return raw.split(",").map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a comma-separated list of positive integers, got ${JSON.stringify(raw)}`);
    return n;
  });
}

const SECTIONS = ["p1", "p2", "p3", "p4", "mem", "gw"] as const;
export type Section = (typeof SECTIONS)[number];

function only(): Set<Section> {
  const raw = process.env["ONLY"];
  if (!raw) return new Set(SECTIONS);
  const wanted = raw.split(",").map((s) => s.trim().toLowerCase());
  for (const w of wanted)
    if (!SECTIONS.includes(w as Section)) throw new Error(`ONLY: unknown section ${JSON.stringify(w)} (${SECTIONS.join(", ")})`);
  return new Set(wanted as Section[]);
}

export const options = {
  quick: QUICK,
  /** Sections to run (`ONLY=p1,p4`); all by default. */
  only: only(),
  /** Concurrent connections of the P1 and memory load. */
  connections: int("CONNECTIONS", 16, 16),
  /** Tools of the P1 toolset (also P2's, P4's and the memory server's). */
  tools: int("TOOLS", 200, 200),
  /** The small and large toolsets of the P1 not-modified scaling row. */
  smallTools: int("SMALL_TOOLS", 10, 10),
  largeTools: int("LARGE_TOOLS", 1000, 1000),
  /** Seconds of one measured P1 round, and rounds per server and case (real and bare interleaved). */
  roundSeconds: int("ROUND_SECONDS", 3, 1),
  rounds: int("ROUNDS", 5, 1),
  /** P2: releases published before the late window, and the size of each window. */
  releases: int("RELEASES", 1000, 100),
  window: int("WINDOW", 50, 20),
  /** P2: toolset variations of the published toolset. */
  publishVariations: int("PUBLISH_VARIATIONS", 100, 100),
  /** P3: toolset sizes, and calls measured per size. */
  sizes: list("SIZES", "10,200,1000,5000", "10,200,1000"),
  reps: int("REPS", 10, 3),
  /** P4: publishes on replica A. */
  trials: int("TRIALS", 50, 10),
  /** P4: pause between two polls of replica B (0 = back to back). */
  pollMs: int("POLL_MS", 5, 5),
  /** Memory: resolves before the second reading (or MEM_SECONDS of them, whichever ends first), and open watchers. */
  memResolves: int("MEM_RESOLVES", 100_000, 10_000),
  memSeconds: int("MEM_SECONDS", 90, 15),
  memWatchers: int("MEM_WATCHERS", 1000, 100),
  /** Write a V8 CPU profile of each server child into this folder (`node --cpu-prof`). */
  cpuProfDir: process.env["CPU_PROF_DIR"] || undefined,
};

/** Global and toolset variations of every seeded toolset (the P1 toolset). */
export const VARIATIONS = { global: 20, toolset: 20 };
