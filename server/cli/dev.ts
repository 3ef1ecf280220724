import { spawn, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gatewayBaseUrl } from "../demo/demo.js";

// `npm run dev`, which `make run` runs: the release service and the MCP gateway
// side by side, with the demo (DESIGN §10).
//
// - The service starts first, with DEMO=true unless DEMO is set, and with
//   GATEWAY_PUBLIC_URL (unless set) where the gateway will listen (GATEWAY_HOST,
//   GATEWAY_PORT), so the console shows MCP URLs that work. Its stdout is
//   passed through line by line and read for its "listening" line; then the
//   gateway starts with TSR_URL pointing at it, and, when the demo runs
//   (DEMO on, no DATABASE_URL), with 127.0.0.1 added to GATEWAY_UPSTREAM_ALLOW:
//   the demo's pet store listens on loopback, which the gateway refuses to call
//   by default. (Unset, the list becomes `public,127.0.0.1`: public upstreams
//   stay allowed as by default.)
// - SIGINT, SIGTERM and SIGHUP are passed to both; the launcher exits once both
//   have exited. When one exits on its own, the other gets SIGTERM (SIGKILL
//   after STOP_TIMEOUT_MS), and the launcher exits with the first one's code.
// - Both stay in the launcher's process group: a terminal's Ctrl-C or a
//   `kill -- -<pgid>` reaches them directly too (their handlers are idempotent).

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const SERVICE_ENTRY = "server/main.ts";
const GATEWAY_ENTRY = "gateway/main.ts";
/** Past the service's own bound (SHUTDOWN_TIMEOUT_MS 20 s + 5 s to close). */
const STOP_TIMEOUT_MS = 30_000;
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** One line of the launcher's own, in the JSON-lines shape of the processes it runs. */
function log(level: "info" | "warn" | "error", msg: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, process: "dev", ...fields })}\n`);
}

interface Proc {
  name: "service" | "gateway";
  child: ChildProcess;
  exited: Promise<number>;
  /** Exit code; a signal's death counts as 128 + its number. Null while running. */
  code: number | null;
}

function start(name: Proc["name"], entry: string, env: NodeJS.ProcessEnv, stdout: "inherit" | "pipe"): Proc {
  const child = spawn(process.execPath, ["--import", "tsx", entry], { cwd: ROOT, env, stdio: ["inherit", stdout, "inherit"] });
  const proc: Proc = {
    name,
    child,
    code: null,
    exited: new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        proc.code = code ?? 128 + (signal ? signalNumber(signal) : 0);
        resolve(proc.code);
      });
      // A spawn that fails (no node binary) ends here, without an exit event.
      child.once("error", (err) => {
        log("error", `${name} could not start`, { error: err.message });
        proc.code ??= 1;
        resolve(proc.code);
      });
    }),
  };
  return proc;
}

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return numbers[signal] ?? 0;
}

function running(p: Proc | undefined): p is Proc {
  return p !== undefined && p.code === null && p.child.pid !== undefined;
}

/** Passes `child`'s stdout through line by line; calls `onLine` for each line until it returns true. */
function passThrough(child: ChildProcess, onLine: (line: string) => boolean): void {
  let buffered = "";
  let watching = true;
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    buffered += chunk;
    const end = buffered.lastIndexOf("\n");
    if (end < 0) return;
    const lines = buffered.slice(0, end + 1);
    buffered = buffered.slice(end + 1);
    process.stdout.write(lines);
    if (watching) for (const line of lines.split("\n")) if (line !== "" && onLine(line)) watching = false;
  });
  child.stdout!.on("end", () => {
    if (buffered !== "") process.stdout.write(`${buffered}\n`);
  });
}

/** The URL a client on this machine reaches the service at, from its "listening" log line; undefined for other lines. */
function serviceUrlFromLogLine(line: string): string | undefined {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return undefined;
  }
  const { msg, url } = (entry ?? {}) as { msg?: unknown; url?: unknown };
  if (msg !== "listening" || typeof url !== "string" || !URL.canParse(url)) return undefined;
  const u = new URL(url);
  // A wildcard address is reached on loopback.
  if (u.hostname === "0.0.0.0") u.hostname = "127.0.0.1";
  if (u.hostname === "[::]") u.hostname = "[::1]";
  return u.origin;
}

/**
 * GATEWAY_UPSTREAM_ALLOW with `host` added (once). An unset list becomes
 * `public,<host>`: the default's rule (any public address) plus the demo's.
 */
function allowUpstream(current: string | undefined, host: string): string {
  const list = (current ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 0) list.push("public");
  return (list.includes(host) ? list : [...list, host]).join(",");
}

/** A variable's trimmed value; undefined when unset or empty (the default applies). */
function setting(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === "" ? undefined : v;
}

function main(): void {
  const env = process.env;
  const demo = env["DEMO"] === undefined || env["DEMO"].trim() === "" ? "true" : env["DEMO"];
  // The service runs the demo on the embedded database only (server/demo/demo.ts).
  const demoOn = ["true", "1", "yes"].includes(demo.trim().toLowerCase()) && (env["DATABASE_URL"] ?? "").trim() === "";
  let stopping = false;
  /** A signal asked the launcher to stop (not a process that ended on its own). */
  let asked = false;
  let firstExit: Proc | undefined;
  let gateway: Proc | undefined;

  const gatewayPublicUrl =
    (env["GATEWAY_PUBLIC_URL"] ?? "").trim() !== ""
      ? env["GATEWAY_PUBLIC_URL"]
      : gatewayBaseUrl(setting(env, "GATEWAY_HOST"), setting(env, "GATEWAY_PORT"));
  const service = start("service", SERVICE_ENTRY, { ...env, DEMO: demo, GATEWAY_PUBLIC_URL: gatewayPublicUrl }, "pipe");
  const procs = (): Proc[] => [service, ...(gateway ? [gateway] : [])];

  const stopAll = (signal: NodeJS.Signals) => {
    for (const p of procs()) if (running(p)) p.child.kill(signal);
  };
  const stopOthers = () => {
    if (stopping) return;
    stopping = true;
    stopAll("SIGTERM");
    setTimeout(() => {
      for (const p of procs()) {
        if (!running(p)) continue;
        log("warn", `${p.name} did not stop in time; killing it`, { timeout_ms: STOP_TIMEOUT_MS });
        p.child.kill("SIGKILL");
      }
    }, STOP_TIMEOUT_MS).unref();
  };

  for (const signal of SIGNALS) {
    process.on(signal, () => {
      if (!stopping) asked = true;
      stopping = true;
      stopAll(signal);
    });
  }
  // Last resort (an exception in the launcher): no child outlives it.
  process.on("exit", () => stopAll("SIGKILL"));

  const onExit = (p: Proc) => {
    if (firstExit === undefined) firstExit = p;
    if (!stopping) log(p.code === 0 ? "info" : "error", `${p.name} exited; stopping the rest`, { code: p.code });
    stopOthers();
    if (procs().some(running)) return;
    // Asked to stop: 0 when every process stopped cleanly. Otherwise the code of
    // the one that ended first, and never 0: nothing should have ended.
    process.exitCode = asked ? (procs().every((q) => q.code === 0) ? 0 : 1) : firstExit.code || 1;
  };
  void service.exited.then(() => onExit(service));

  passThrough(service.child, (line) => {
    const url = serviceUrlFromLogLine(line);
    if (url === undefined) return false;
    if (stopping) return true;
    const gatewayEnv: NodeJS.ProcessEnv = { ...env, TSR_URL: url };
    if (demoOn) {
      // The demo adds loopback; unset, `public` keeps the default rule for every other upstream.
      gatewayEnv["GATEWAY_UPSTREAM_ALLOW"] = allowUpstream(env["GATEWAY_UPSTREAM_ALLOW"], "127.0.0.1");
      log("info", "the gateway may call 127.0.0.1, where the demo's pet store listens", {
        GATEWAY_UPSTREAM_ALLOW: gatewayEnv["GATEWAY_UPSTREAM_ALLOW"],
      });
    }
    gateway = start("gateway", GATEWAY_ENTRY, gatewayEnv, "inherit");
    const g = gateway;
    void g.exited.then(() => onExit(g));
    return true;
  });
}

main();
