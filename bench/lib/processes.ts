// Servers under test run in child processes of their own (own process group),
// so the load generator in the bench process does not share their event loop.
// Every child is killed with its group when the bench ends, however it ends.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { freePort } from "../../server/platform/ports.js";
import { RATE_LIMITS_OFF } from "../../server/testing/server-process.js";
import { options } from "./options.js";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A server in a child process. */
export interface ChildServer {
  name: string;
  pid: number;
  port: number;
  baseUrl: string;
  /** Resident set size now, in MiB (VmRSS of /proc/<pid>/status). */
  rssMiB(): number;
  /** SIGTERM to the process group, SIGKILL after 10 s; resolves once it exited. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

// Nothing is left running: on exit (normal, error, or a signal turned into an
// exit below) every child group still alive is killed.
process.on("exit", () => {
  for (const child of live) killGroup(child, "SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the servers`);
    process.exit(130);
  });
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return kb ? Number(kb[1]) / 1024 : NaN;
}

async function startChild(
  name: string,
  script: string,
  env: Record<string, string>,
  port: number,
  ready: (output: string) => Promise<boolean>,
): Promise<ChildServer> {
  const args = ["--import", "tsx"];
  // One folder per child: each thread (the main one, tsx's loader) writes a profile of its own.
  if (options.cpuProfDir) args.push("--cpu-prof", `--cpu-prof-dir=${options.cpuProfDir}/${name}`);
  const child = spawn(process.execPath, [...args, script], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    detached: true, // a process group of its own, killed as a whole
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(child);
  let output = "";
  const keep = (c: Buffer) => {
    output = (output + c.toString()).slice(-8_000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      live.delete(child);
      resolve();
    }),
  );
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited at start:\n${output}`);
    if (await ready(output)) break;
    if (Date.now() > deadline) {
      killGroup(child, "SIGKILL");
      throw new Error(`${name} not ready after 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const pid = child.pid!;
  return {
    name,
    pid,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    rssMiB: () => rssMiB(pid),
    async stop() {
      if (!live.has(child)) return;
      killGroup(child, "SIGTERM");
      const timer = setTimeout(() => killGroup(child, "SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
      killGroup(child, "SIGKILL"); // anything the server left in its group
    },
  };
}

/**
 * What the benchmarks turn off: they load one server from one address with a
 * few keys, to measure the service, not its abuse limits (rate limits, the cap
 * on streams per client address) nor the idle timeout that would close a load
 * connection left waiting between rounds (the load generator does not reconnect).
 */
const UNLIMITED: Record<string, string> = {
  ...RATE_LIMITS_OFF,
  MAX_STREAMS_PER_CLIENT: "1000000",
  IDLE_CONNECTION_TIMEOUT_MS: "86400000",
};

/** `node --import tsx server/main.ts` on `databaseUrl` (already migrated) without abuse limits (UNLIMITED), ready once /readyz answers 200. */
export async function startServer(name: string, databaseUrl: string, env: Record<string, string> = {}): Promise<ChildServer> {
  const port = await freePort();
  return startChild(
    name,
    "server/main.ts",
    {
      DATABASE_URL: databaseUrl,
      HOST: "127.0.0.1",
      PORT: String(port),
      LOG_LEVEL: "warn",
      MIGRATE_ON_START: "false",
      SHUTDOWN_TIMEOUT_MS: "2000",
      ...UNLIMITED,
      ...env,
    },
    port,
    async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;
      } catch {
        return false;
      }
    },
  );
}

/** The bare connect-node server of bench/bare-server.ts answering `responseFile`; `port` is HTTP/1.1, `h2Port` h2c. */
export async function startBareServer(responseFile: string): Promise<ChildServer & { h2Port: number }> {
  const port = await freePort();
  const h2Port = await freePort();
  const child = await startChild(
    "bare",
    "bench/bare-server.ts",
    { BARE_RESPONSE: responseFile, BARE_H1_PORT: String(port), BARE_H2_PORT: String(h2Port) },
    port,
    async (output) => output.includes("bare server ready"),
  );
  return { ...child, h2Port };
}

/**
 * The MCP gateway, `node --import tsx gateway/main.ts`, in front of the release
 * service at `tsrUrl`; ready once /healthz answers 200. LOG_LEVEL warn, as the
 * service's (no line per request).
 */
export async function startGateway(name: string, tsrUrl: string, env: Record<string, string> = {}): Promise<ChildServer> {
  const port = await freePort();
  return startChild(
    name,
    "gateway/main.ts",
    {
      TSR_URL: tsrUrl,
      GATEWAY_HOST: "127.0.0.1",
      GATEWAY_PORT: String(port),
      LOG_LEVEL: "warn",
      SHUTDOWN_TIMEOUT_MS: "2000",
      ...env,
    },
    port,
    async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200;
      } catch {
        return false;
      }
    },
  );
}
