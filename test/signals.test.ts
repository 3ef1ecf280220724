import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { portAnswers } from "../server/platform/ports.js";
import { useTestDatabase } from "../server/testing/use-test-server.js";

// Signals must reach the server however it was started: SIGTERM to the PID of
// `npm start` or `make run` (what a container runtime, systemd or `timeout`
// signals) drains and stops the server, and the embedded PostgreSQL with it.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const database = useTestDatabase();

/** True while any process of process group `pgid` lives. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts `command` as the leader of a new process group; resolves with the port it listens on. */
function launch(
  command: string,
  args: string[],
  env: Record<string, string>,
): { child: ChildProcess; port: Promise<number>; closed: Promise<void>; output: () => string } {
  const child = spawn(command, args, {
    cwd: ROOT,
    detached: true,
    env: { ...process.env, HOST: "127.0.0.1", PORT: "0", LOG_LEVEL: "info", SHUTDOWN_TIMEOUT_MS: "5000", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const port = new Promise<number>((resolve, reject) => {
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /"msg":"listening".*?"port":(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.stderr!.on("data", (c: Buffer) => (out += c.toString()));
    child.once("exit", (code) => reject(new Error(`${command} exited with ${code} before listening:\n${out}`)));
  });
  return { child, port, closed, output: () => out };
}

async function stopsOnSigterm(command: string, args: string[], env: Record<string, string>, postmasterPidFile?: string): Promise<void> {
  const { child, port, closed, output } = launch(command, args, env);
  const pgid = child.pid!;
  let postmaster: number | undefined;
  try {
    const p = await port;
    if (postmasterPidFile !== undefined) {
      postmaster = Number(readFileSync(postmasterPidFile, "utf8").split("\n")[0]);
      expect(alive(postmaster)).toBe(true);
    }
    process.kill(pgid, "SIGTERM"); // the top PID only, as `kill -TERM <pid>` does
    await expect.poll(async () => !(await portAnswers(p)), { timeout: 15_000, interval: 100 }).toBe(true);
    await expect.poll(() => groupAlive(pgid), { timeout: 15_000, interval: 100 }).toBe(false);
    if (postmaster !== undefined) await expect.poll(() => alive(postmaster!), { timeout: 15_000, interval: 100 }).toBe(false);
    await closed; // every line the processes wrote has been read
    expect(output()).toContain('"msg":"shutting down"');
    expect(output()).toContain('"msg":"stopped"');
  } finally {
    if (groupAlive(pgid)) process.kill(-pgid, "SIGKILL");
    if (postmaster !== undefined && alive(postmaster)) process.kill(postmaster, "SIGKILL");
  }
}

describe("signals reach the server", () => {
  it("SIGTERM to `npm start` stops the server and every process it started", async () => {
    await stopsOnSigterm("npm", ["start"], { DATABASE_URL: database.url, MIGRATE_ON_START: "false" });
  }, 60_000);

  it("SIGTERM to `make run` stops the server and every process it started", async () => {
    // -o: never reinstall node_modules from a test.
    // make run starts the gateway too: on a port of its own, so a developer's open `make run` does not collide.
    await stopsOnSigterm("make", ["--no-print-directory", "-o", "node_modules/.installed", "run"], {
      DATABASE_URL: database.url,
      MIGRATE_ON_START: "false",
      GATEWAY_PORT: "0",
    });
  }, 60_000);

  it("SIGTERM to `npm start` on the embedded PostgreSQL stops PostgreSQL too", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "tsr-signals-"));
    chmodSync(dataDir, 0o755); // reachable by the postgres user when run as root
    try {
      const env: Record<string, string> = { DATA_DIR: dataDir, DATABASE_URL: "" };
      await stopsOnSigterm("npm", ["start"], env, join(dataDir, "pg", "postmaster.pid"));
      expect(existsSync(join(dataDir, "pg", "postmaster.pid"))).toBe(false);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
