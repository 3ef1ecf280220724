import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

// The layer rule of eslint.config.js (DESIGN §7) keeps catching what it is for:
// each import below, placed in the file named, must fail `make lint`, and the
// allowed ones must pass. Linted as text, so no probe file touches the tree.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

const eslint = new ESLint({
  cwd: ROOT,
  // The type-aware rules need files on disk; the import rule does not.
  overrideConfig: { languageOptions: { parserOptions: { projectService: false } }, rules: { "@typescript-eslint/no-floating-promises": "off" } },
});

/** The no-restricted-imports messages for a file at `path` holding one import of `specifier`. */
async function layerErrors(path: string, specifier: string): Promise<string[]> {
  const [result] = await eslint.lintText(`import "${specifier}";\n`, { filePath: join(ROOT, path) });
  return (result?.messages ?? []).filter((m) => m.ruleId === "no-restricted-imports").map((m) => m.message);
}

describe("the layer rule", () => {
  it.each([
    ["a handler importing the app", "server/toolsets/probe.ts", "../app.js"],
    ["a handler importing main", "server/releases/probe.ts", "../main.js"],
    ["a service folder importing another", "server/releases/probe.ts", "../toolsets/mapping.js"],
    ["a service folder importing another (sources)", "server/sources/probe.ts", "../releases/diff.js"],
    ["a service folder importing another (accounts)", "server/accounts/probe.ts", "../toolsets/mapping.js"],
    ["accounts/ importing the app", "server/accounts/probe.ts", "../app.js"],
    ["model/ importing a service folder", "server/model/probe.ts", "../toolsets/mapping.js"],
    ["model/ importing accounts/", "server/model/probe.ts", "../accounts/mapping.js"],
    ["model/ importing resolve/", "server/model/probe.ts", "../resolve/merge.js"],
    ["platform/ importing auth/", "server/platform/probe.ts", "../auth/caller.js"],
    ["platform/ importing model/", "server/platform/probe.ts", "../model/toolsets.js"],
    ["db/ importing model/", "server/db/probe.ts", "../model/toolsets.js"],
    ["resolve/ importing a service folder", "server/resolve/probe.ts", "../releases/mapping.js"],
    ["serving/ importing model/ (it holds no SQL)", "server/serving/probe.ts", "../model/toolsets.js"],
    ["serving/ importing db/", "server/serving/probe.ts", "../db/transaction.js"],
    ["the gateway importing server/", "gateway/probe.ts", "../server/platform/errors.js"],
    ["the console importing server/", "web/src/probe.ts", "../../server/model/toolsets.js"],
  ])("refuses %s", async (_what, path, specifier) => {
    expect(await layerErrors(path, specifier)).toHaveLength(1);
  });

  it.each([
    ["a handler importing model/", "server/toolsets/probe.ts", "../model/toolsets.js"],
    ["a handler importing its own folder", "server/releases/probe.ts", "./mapping.js"],
    ["a handler importing the context", "server/releases/probe.ts", "../context.js"],
    ["a handler importing generated code", "server/toolsets/probe.ts", "../../gen/toolsets/v1/toolsets_pb.js"],
    ["resolve/ importing model/", "server/resolve/probe.ts", "../model/resolution.js"],
    ["model/ importing platform/", "server/model/probe.ts", "../platform/errors.js"],
    ["serving/ importing platform/", "server/serving/probe.ts", "../platform/logging.js"],
    ["auth/ importing serving/", "server/auth/probe.ts", "../serving/served-state.js"],
    ["the gateway importing gen/", "gateway/probe.ts", "../gen/releases/v1/releases_pb.js"],
  ])("allows %s", async (_what, path, specifier) => {
    expect(await layerErrors(path, specifier)).toEqual([]);
  });
});
