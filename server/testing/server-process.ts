import { spawn, type ChildProcess } from "node:child_process";
import type { DescService } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";

/** The environment that turns every RATE_LIMIT_* off. */
export const RATE_LIMITS_OFF: Readonly<Record<string, string>> = {
  RATE_LIMIT_READ_PER_SECOND: "0",
  RATE_LIMIT_WRITE_PER_SECOND: "0",
  RATE_LIMIT_ANONYMOUS_PER_SECOND: "0",
};

/** How long `stop()` waits after SIGTERM before it sends SIGKILL. */
const STOP_TIMEOUT_MS = 15_000;

/** A server started as a process of its own (`tsx server/main.ts`), listening. */
export interface ServerProcess {
  /** The `tsx` process; its own process group's leader (the server's node process is in that group). */
  readonly child: ChildProcess;
  /** The port it listens on, read from its "listening" log line. */
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly baseUrl: string;
  /** Everything it has written so far, stdout and stderr. */
  output(): string;
  /** Its exit code (null when a signal ended it); settles when it exits. */
  readonly exited: Promise<number | null>;
  /** A client of `service` over Connect JSON and HTTP/1.1. */
  client<T extends DescService>(service: T): Client<T>;
  /** Sends SIGTERM to its whole process group and waits for it to exit (SIGKILL after 15 s); does nothing once it has exited. */
  stop(): Promise<void>;
}

/**
 * Spawns `node_modules/.bin/tsx server/main.ts` detached (a process group of
 * its own, so that `stop()` reaches tsx's node child too) on 127.0.0.1, port 0,
 * without migrations, logging at info, rate limits off (as `testConfig()`: the
 * tests and suites call with one key from one address); `env` adds to and
 * overrides that (and the test process's own environment). Resolves once the
 * server logs "listening", with the port it logged; rejects when it exits before.
 */
export function startServerProcess(env: Record<string, string>): Promise<ServerProcess> {
  const child = spawn("node_modules/.bin/tsx", ["server/main.ts"], {
    env: { ...process.env, HOST: "127.0.0.1", PORT: "0", MIGRATE_ON_START: "false", LOG_LEVEL: "info", ...RATE_LIMITS_OFF, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  /** Stdout until the "listening" line, where the port is looked for. */
  let stdout = "";
  let listening = false;
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const hasExited = () => child.exitCode !== null || child.signalCode !== null;

  const stop = async () => {
    if (child.pid === undefined || hasExited()) return;
    const signalGroup = (signal: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, signal);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
      }
    };
    signalGroup("SIGTERM");
    const timer = setTimeout(() => signalGroup("SIGKILL"), STOP_TIMEOUT_MS);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  };

  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.stderr.on("data", (c: Buffer) => (out += c.toString()));
    child.stdout.on("data", (c: Buffer) => {
      const text = c.toString();
      out += text;
      if (listening) return;
      stdout += text;
      const m = /"msg":"listening".*?"port":(\d+)/.exec(stdout);
      if (!m) return;
      listening = true;
      const port = Number(m[1]);
      const baseUrl = `http://127.0.0.1:${port}`;
      resolve({
        child,
        port,
        baseUrl,
        output: () => out,
        exited,
        client: (service) => createClient(service, createConnectTransport({ baseUrl, httpVersion: "1.1" })),
        stop,
      });
    });
    void exited.then((code) => reject(new Error(`server exited with ${code} before listening: ${out}`)));
  });
}
