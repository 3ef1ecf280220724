import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, expect, onTestFinished } from "vitest";
import { loadConfig, type Config } from "../../../server/config.js";
import type { Driver } from "../../../server/testing/driver.js";
import type { Tenant } from "../../../server/testing/fixtures.js";
import type { ServerOverrides, TestServer } from "../../../server/testing/server.js";
import { useTestServer } from "../../../server/testing/use-test-server.js";
import { ARTIFACTS_DIR, CHROMIUM, CONSOLE_DIST } from "./paths.js";

// What the scenarios need from the server side, so that only this file reaches into server/.
export { createProject, TOOLSET_STAGING } from "../../../server/auth/tenants.js";
export type { Driver } from "../../../server/testing/driver.js";
export { createTenant, httpTool, uniqueSlug, urn, type Tenant } from "../../../server/testing/fixtures.js";

/** The gateway's public base URL the console builds MCP endpoint URLs from (nothing listens there). */
export const GATEWAY_PUBLIC_URL = "http://mcp.e2e.test:18081";

/** How long a locator or a poll waits for the console by default (a publish elsewhere must show within it). */
export const WAIT_MS = 10_000;

/** The flags of the brief: headless, no sandbox (root in CI), nothing that calls home. */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-quic",
  "--no-first-run",
  "--disable-sync",
];

/** What a scenario file gets from `useConsole`. */
export interface ConsoleHarness {
  readonly server: TestServer;
  /** An organization with the toolset_staging feature, one project, a producer and a consumer key. */
  readonly tenant: Tenant;
  /** "The other client": generated Connect clients (connect-node, Connect JSON) as `tenant`'s producer; `api.with(...)` for others. */
  readonly api: Driver;
  /** The absolute URL of a console path: `url("/projects/p")` is `http://127.0.0.1:<port>/console/projects/p`. */
  url(path?: string): string;
  /** A page in a fresh browser context (its own sessionStorage, clipboard allowed), closed when the test ends. */
  open(): Promise<Page>;
  /** Signs in at /console/ with `key` (API key field, Sign in button); then goes to `path` when given. */
  signIn(page: Page, key: string, path?: string): Promise<void>;
}

/** Every URL a page requested or navigated to, in order (the key must never be in one). */
const visited = new WeakMap<Page, string[]>();

/** The URLs `page` requested or navigated to so far. */
export function visitedUrls(page: Page): readonly string[] {
  return visited.get(page) ?? [];
}

/**
 * Registers the file's hooks: a database clone and a release service on port 0
 * serving web/dist at /console/ (useTestServer, with one tenant), then one
 * headless Chromium for the file. Everything is stopped in afterAll, also when
 * a hook or a test failed. Call it once at the top of a scenario file.
 */
export function useConsole(): ConsoleHarness {
  const { server, tenant, api } = useTestServer({ tenants: 1, server: consoleOverrides() });
  let browser: Browser | undefined;
  const keys = new Set<string>();

  beforeAll(async () => {
    await expectConsoleServed(server.baseUrl);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await browser?.close();
  });

  const url = (path = "/") => `${server.baseUrl}/console${path.startsWith("/") ? path : `/${path}`}`;

  async function open(): Promise<Page> {
    if (!browser) throw new Error("useConsole: the browser is not running (open pages inside tests)");
    const context: BrowserContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.baseUrl });
    context.setDefaultTimeout(WAIT_MS);
    const page = await context.newPage();
    const urls: string[] = [];
    const logs: string[] = [];
    visited.set(page, urls);
    page.on("request", (request) => urls.push(request.url()));
    page.on("framenavigated", (frame) => {
      if (frame === page.mainFrame()) urls.push(frame.url());
    });
    page.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning") logs.push(`console.${message.type()}: ${message.text()}`);
    });
    page.on("pageerror", (error) => logs.push(`page error: ${error.message}`));

    onTestFinished(async ({ task }) => {
      try {
        if (task.result?.state === "fail") {
          const name = `failed-${task.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 80)}`;
          await screenshot(page, name).catch(() => undefined);
          if (logs.length > 0) console.error(`browser log of "${task.name}":\n  ${logs.join("\n  ")}`);
        }
      } finally {
        await context.close();
      }
      // Rule of the console: the key is never put in a URL (none requested, none navigated to).
      const leaked = urls.filter((u) => [...keys].some((k) => u.includes(k)));
      expect(leaked, "URLs that carry an API key").toEqual([]);
    });
    return page;
  }

  async function signIn(page: Page, key: string, path?: string): Promise<void> {
    keys.add(key);
    await page.goto(url("/"));
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await page.getByLabel("API key", { exact: true }).fill(key);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.getByRole("heading", { name: "Sign in" }).waitFor({ state: "detached" });
    if (path !== undefined) await page.goto(url(path));
  }

  return { server, tenant, api, url, open, signIn };
}

/** Saves a full-page PNG of `page` as artifacts/console/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS_DIR, `${name}.png`), fullPage: true });
}

/** Polls `read` until the assertion chained on it holds (or WAIT_MS passes). */
export function eventually<T>(read: () => T | Promise<T>) {
  return expect.poll(read, { timeout: WAIT_MS, interval: 100 });
}

/** Marks the loaded document, so that `expectNoReload` can tell a reload (or a navigation) happened since. */
export async function markDocument(page: Page): Promise<string> {
  const mark = `e2e-${Math.random().toString(36).slice(2)}`;
  await page.evaluate((m) => Reflect.set(window, "__e2eMark", m), mark);
  return mark;
}

/** Fails when the document `markDocument` marked was replaced (the page reloaded or navigated). */
export async function expectNoReload(page: Page, mark: string): Promise<void> {
  expect(await page.evaluate(() => Reflect.get(window, "__e2eMark") as unknown), "the page reloaded").toBe(mark);
}

/**
 * The server settings the console needs: its build (CONSOLE_DIR, web/dist) and
 * the gateway's public URL, read by the config loader itself so the harness
 * names only the environment variables. Only values that differ from the
 * defaults become overrides.
 */
function consoleOverrides(): ServerOverrides {
  const defaults = loadConfig({});
  const wanted = loadConfig({ CONSOLE_DIR: CONSOLE_DIST, GATEWAY_PUBLIC_URL });
  const overrides: Partial<Config> = {};
  for (const key of Object.keys(wanted) as (keyof Config)[]) {
    if (JSON.stringify(wanted[key]) !== JSON.stringify(defaults[key])) Object.assign(overrides, { [key]: wanted[key] });
  }
  return overrides as ServerOverrides;
}

/** Fails the file at once, saying why, when the service does not serve the console's page. */
async function expectConsoleServed(baseUrl: string): Promise<void> {
  const response = await fetch(`${baseUrl}/console/`);
  await response.body?.cancel();
  if (response.status !== 200 || !(response.headers.get("content-type") ?? "").startsWith("text/html")) {
    throw new Error(
      `GET /console/ answered ${response.status} without the console's page: the release service must serve ${CONSOLE_DIST} at /console/ (CONSOLE_DIR)`,
    );
  }
}
