import type { Kysely } from "kysely";
import { ConfigError } from "../config.js";
import type { Database } from "../db/database.js";
import type { Logger } from "../platform/logging.js";
import { startPetStore, type PetStore } from "./petstore.js";
import { DEMO, issueConsoleKey, seedDemo, type DemoEndpoint } from "./seed.js";

// The demo of `make run` (DESIGN §10). `npm run dev` (what `make run` runs) sets
// DEMO=true; the service then, on the embedded database only (the local dev
// instance, where the dev seed made dev/default), starts the pet store, seeds
// its tools and toolset on every start (a no-op once toolset `petstore`
// exists) and prints the MCP URL with an Inspector command to paste, and the
// console's URL with a producer key issued for it on this start.

/** The demo's settings, read from the environment with the service's. */
export interface DemoSettings {
  /** DEMO: true runs the demo (default false; `npm run dev` sets it). */
  enabled: boolean;
  /** DEMO_PETSTORE_PORT: the pet store's port on 127.0.0.1, default 8082. Its URL is stored in the tools at the first seed. */
  petStorePort: number;
  /** The gateway's base URL for the banner, from the gateway's own GATEWAY_HOST and GATEWAY_PORT (default http://127.0.0.1:8081). */
  gatewayUrl: string;
}

/** Reads the demo's settings; ConfigError names a bad variable. */
export function demoSettings(env: Record<string, string | undefined> = process.env): DemoSettings {
  const raw = (name: string) => {
    const v = env[name]?.trim();
    return v === undefined || v === "" ? undefined : v;
  };
  const demo = raw("DEMO")?.toLowerCase();
  let enabled = false;
  if (demo === "true" || demo === "1" || demo === "yes") enabled = true;
  else if (demo !== undefined && demo !== "false" && demo !== "0" && demo !== "no") {
    throw new ConfigError("DEMO", `must be true or false, got ${JSON.stringify(env["DEMO"])}`);
  }
  const port = raw("DEMO_PETSTORE_PORT") ?? "8082";
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new ConfigError("DEMO_PETSTORE_PORT", `must be a port from 1 to 65535, got ${JSON.stringify(env["DEMO_PETSTORE_PORT"])}`);
  }
  return { enabled, petStorePort: Number(port), gatewayUrl: gatewayBaseUrl(raw("GATEWAY_HOST"), raw("GATEWAY_PORT")) };
}

/** Where a client reaches a gateway listening on `host`:`port` (a wildcard address is reached on loopback). */
export function gatewayBaseUrl(host = "127.0.0.1", port = "8081"): string {
  const reachable = host === "0.0.0.0" ? "127.0.0.1" : host === "::" || host === "[::]" ? "::1" : host;
  const hostPart = reachable.includes(":") && !reachable.startsWith("[") ? `[${reachable}]` : reachable;
  return `http://${hostPart}:${port}`;
}

/** The gateway URL of the demo's MCP endpoint. */
export function demoMcpUrl(gatewayUrl: string, endpoint: Pick<DemoEndpoint, "org" | "project"> & { mcpSlug: string }): string {
  return `${gatewayUrl}/mcp/${endpoint.org}/${endpoint.project}/${endpoint.mcpSlug}`;
}

/** The MCP Inspector release the banner's commands were checked with; pinned, so a stale npx cache of an older one is not reused. */
export const INSPECTOR_VERSION = "2.12.0";

/** Whether Node `version` (such as "20.20.2") meets the Inspector's engines, >=22.19. */
function inspectorRunsOn(version: string): boolean {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  return major > 22 || (major === 22 && minor >= 19);
}

/**
 * The MCP Inspector's CLI calling `method` on `mcpUrl`, as it runs when pasted.
 * `-y` skips npx's install question. `--transport http`: the Inspector guesses
 * the transport only for URLs ending in /mcp. Pinned: on Node 20 npx would
 * pick 0.15.0 (the newest whose engines allow Node 20), which posts to /mcp
 * instead of the URL's path. The Inspector wants Node 22.19, so on an older
 * Node (this service runs on 20) npx fetches Node 22 from npm to run it.
 */
export function inspectorCommand(mcpUrl: string, method = "tools/list", extra = "", nodeVersion = process.versions.node): string {
  const inspector = `@modelcontextprotocol/inspector@${INSPECTOR_VERSION}`;
  const npx = inspectorRunsOn(nodeVersion) ? `npx -y ${inspector}` : `npx -y -p node@22 -p ${inspector} mcp-inspector`;
  return `${npx} --cli ${mcpUrl} --transport http --method ${method}${extra === "" ? "" : ` ${extra}`}`;
}

/** The console as the banner shows it. */
export interface DemoConsole {
  /** `<service origin>/console/`. */
  url: string;
  /** The producer key issued for it on this start. */
  key: string;
  /** Whether its build (web/dist) exists; else the URL answers 503. */
  built: boolean;
}

/** The banner's lines about the console: where it is and the key to sign in with. */
function consoleLines(web: DemoConsole): string[] {
  return [
    "Console (in a browser; sign in with the producer key below, issued for it on this start):",
    "",
    `  ${web.url}${web.built ? "" : "   (not built yet: run `make console`)"}`,
    `  ${web.key}`,
    "",
  ];
}

/** The banner printed on every start of the demo; with the console's URL and key when `web` is given. */
export function demoBanner(endpoint: DemoEndpoint, petStoreUrl: string, gatewayUrl: string, web?: DemoConsole): string {
  const lines = [
    "",
    endpoint.created
      ? `Demo: seeded a pet store API (${petStoreUrl}) as tools of toolset '${DEMO.toolset}' in ${endpoint.org}/${endpoint.project}, with a public MCP endpoint.`
      : `Demo: a pet store API (${petStoreUrl}) behind toolset '${DEMO.toolset}' of ${endpoint.org}/${endpoint.project} (kept as it is).`,
  ];
  if (endpoint.mcpSlug === null || !endpoint.mcpEnabled || !endpoint.mcpIsPublic) {
    lines.push(
      `Its MCP endpoint is ${endpoint.mcpSlug === null ? "unset" : !endpoint.mcpEnabled ? "disabled" : "private"}: set mcp_slug, mcp_enabled and mcp_is_public with UpdateToolset to use it without a key.`,
      "",
      ...(web ? consoleLines(web) : []),
    );
    return lines.join("\n");
  }
  const url = demoMcpUrl(gatewayUrl, { ...endpoint, mcpSlug: endpoint.mcpSlug });
  lines.push(
    "MCP endpoint (served by the gateway; `make run` starts it, `npm run gateway` alone):",
    "",
    `  ${url}`,
    "",
    "List its tools with the MCP Inspector:",
    "",
    `  ${inspectorCommand(url)}`,
    "",
    "Call one:",
    "",
    `  ${inspectorCommand(url, "tools/call", "--tool-name list_pets --tool-arg tag=dog")}`,
    "",
    ...(web ? consoleLines(web) : []),
  );
  return lines.join("\n");
}

/** A running demo: its pet store. */
export interface Demo {
  petStore: PetStore;
  /** Undefined when the seed could not be made (logged). */
  endpoint: DemoEndpoint | undefined;
  close(): Promise<void>;
}

/**
 * Starts the pet store and seeds the demo; writes the banner to `out`, with the
 * console and a key issued for it when `settings.console` says where it is. A demo
 * that cannot start (the port is taken, dev/default is gone, the seed fails) is
 * logged and leaves the service running: undefined when the pet store could
 * not listen.
 */
export async function startDemo(
  db: Kysely<Database>,
  settings: Pick<DemoSettings, "petStorePort" | "gatewayUrl"> & { console?: Omit<DemoConsole, "key"> | undefined },
  logger: Logger,
  out: { write(s: string): unknown } = process.stderr,
): Promise<Demo | undefined> {
  let petStore: PetStore;
  try {
    petStore = await startPetStore(settings.petStorePort);
  } catch (err) {
    logger.error("demo: the pet store cannot listen; the demo is off", {
      port: settings.petStorePort,
      error: err instanceof Error ? err.message : String(err),
      hint: "set DEMO_PETSTORE_PORT to a free port (then the demo toolset's tools still call the port of their first seed) or DEMO=false",
    });
    return undefined;
  }
  logger.info("demo pet store listening", { url: petStore.url });
  let endpoint: DemoEndpoint | undefined;
  try {
    endpoint = await seedDemo(db, petStore.url);
    if (endpoint) {
      logger.info(endpoint.created ? "demo seeded" : "demo already seeded", {
        org: endpoint.org,
        project: endpoint.project,
        toolset: DEMO.toolset,
        mcp_slug: endpoint.mcpSlug,
      });
      const web = settings.console ? { ...settings.console, key: await issueConsoleKey(db) } : undefined;
      out.write(demoBanner(endpoint, petStore.url, settings.gatewayUrl, web));
    } else {
      logger.warn("demo: not seeded, organization dev has no project default", { org: DEMO.org, project: DEMO.project });
    }
  } catch (err) {
    logger.error("demo: seeding failed", { error: err instanceof Error ? err.message : String(err) });
  }
  return { petStore, endpoint, close: () => petStore.close() };
}
