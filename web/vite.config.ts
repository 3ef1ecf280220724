import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The console's production build: `make console` (and `make run` when it is
// missing) writes web/dist, which the release service serves at /console/.
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/console/",
  resolve: {
    // gen/ and the Connect packages must share one @bufbuild/protobuf: two
    // copies would split the registry of message types (see docs/decisions.md).
    dedupe: ["@bufbuild/protobuf"],
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: true,
    // One bundle of a few hundred KiB is fine for an operator's console.
    chunkSizeWarningLimit: 1024,
    rolldownOptions: {
      // TanStack Query marks its modules "use client" for React Server Components;
      // a client-only bundle drops the directive, as it should.
      onLog(level, log, handler) {
        if (log.code === "MODULE_LEVEL_DIRECTIVE") return;
        handler(level, log);
      },
    },
  },
});
