import { defineConfig } from "vitest/config";

// The console's end-to-end suite (make test-e2e): headless Chromium against a
// release service started in-process by each file (web/e2e/support/harness.ts)
// over a clone of the database the main suite's global setup provides
// (DATABASE_URL, else Docker, else embedded PostgreSQL). The first global setup
// fails the run when /usr/bin/chromium or the console build is missing.
export default defineConfig({
  test: {
    include: ["web/e2e/**/*.e2e.ts"],
    globalSetup: ["web/e2e/support/global-setup.ts", "server/testing/global-setup.ts"],
    pool: "forks",
    // Each file runs a server and a browser: two at a time suits a 2-core runner.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 180_000,
  },
});
