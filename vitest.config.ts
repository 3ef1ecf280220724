import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // The console's component tests (web/src) run with the suite; its browser tests have their own config (vitest.e2e.config.ts).
    include: ["test/**/*.test.ts", "web/src/**/*.test.ts"],
    globalSetup: ["server/testing/global-setup.ts"],
    // Each file gets its own database clone, so files run in parallel safely.
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
