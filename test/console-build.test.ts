import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build, type Rolldown } from "vite";
import { afterAll, describe, expect, it } from "vitest";

// The console's production build, as `make console` makes it, into a scratch
// directory: it must build, and its bundle must hold one copy of
// @bufbuild/protobuf (two would split the type registry between gen/ and the
// Connect packages, and double the weight).
describe("console build", () => {
  let outDir = "";
  afterAll(async () => {
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  it("bundles one copy of @bufbuild/protobuf and an index.html under /console/", async () => {
    outDir = await mkdtemp(join(tmpdir(), "console-build-"));
    const result = await build({
      configFile: "web/vite.config.ts",
      logLevel: "silent",
      build: { outDir, emptyOutDir: true, sourcemap: false },
    });
    const outputs = (Array.isArray(result) ? result : [result]) as Rolldown.RolldownOutput[];
    const modules = outputs.flatMap((o) => o.output.flatMap((chunk) => (chunk.type === "chunk" ? Object.keys(chunk.modules) : [])));
    const protobufRoots = new Set(
      modules.map((id) => /^(.*node_modules\/@bufbuild\/protobuf)\//.exec(id.replaceAll("\\", "/"))?.[1]).filter((r) => r !== undefined),
    );
    expect(protobufRoots.size).toBe(1);
    // The generated clients are in, and the service's code is not.
    expect(modules.some((id) => id.includes("/gen/releases/v1/releases_pb.ts"))).toBe(true);
    expect(modules.some((id) => id.includes("/server/"))).toBe(false);
    const html = await readFile(join(outDir, "index.html"), "utf8");
    expect(html).toMatch(/<script type="module" crossorigin src="\/console\/assets\/index-[\w-]+\.js">/);
  }, 120_000);
});
