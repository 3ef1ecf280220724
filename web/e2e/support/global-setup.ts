import { existsSync, mkdirSync, rmSync } from "node:fs";
import { ARTIFACTS_DIR, CHROMIUM, CONSOLE_DIST } from "./paths.js";

/**
 * Runs before the database's global setup: a missing browser or console build
 * fails the run at once, with what to do (never a skip), and the screenshots of
 * an earlier run are cleared so artifacts/console/ holds this run's only.
 */
export default function setup(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `The console end-to-end tests need Debian's Chromium at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (no browser is downloaded).`,
    );
  }
  if (!existsSync(`${CONSOLE_DIST}/index.html`)) {
    throw new Error(`No console build at ${CONSOLE_DIST}/index.html: run \`make console\` (or \`make test-e2e\`, which builds it).`);
  }
  rmSync(ARTIFACTS_DIR, { recursive: true, force: true });
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
}
