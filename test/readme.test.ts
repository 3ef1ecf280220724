import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { loadGatewayConfig } from "../gateway/config.js";
import { loadConfig } from "../server/config.js";
import { demoSettings } from "../server/demo/demo.js";
import { devSeedBanner } from "../server/dev-seed.js";

/** The environment variables a configuration loader reads, found by handing it an environment that records each look-up. */
function variablesRead(load: (env: Record<string, string | undefined>) => unknown): string[] {
  const read = new Set<string>();
  load(new Proxy({}, { get: (_, name) => (typeof name === "string" && read.add(name), undefined) }));
  return [...read];
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The ```ts blocks of README.md, in order. */
function readmeSnippets(): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  return [...readme.matchAll(/^```(?:ts|typescript)\n([\s\S]*?)^```/gm)].map((m) => m[1]!);
}

/**
 * Typechecks `source` as if it were a file at the repository root, with the
 * project's tsconfig; nothing is written to disk.
 */
function typecheck(source: string, name: string): string[] {
  const configPath = join(ROOT, "tsconfig.json");
  const { config } = ts.readConfigFile(configPath, (p) => ts.sys.readFile(p));
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, ROOT);
  const file = join(ROOT, name);
  const host = ts.createCompilerHost(parsed.options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, ...rest) =>
    fileName === file ? ts.createSourceFile(fileName, source, languageVersion, true) : getSourceFile(fileName, languageVersion, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (f) => f === file || fileExists(f);
  const readFile = host.readFile.bind(host);
  host.readFile = (f) => (f === file ? source : readFile(f));
  const program = ts.createProgram([file], parsed.options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file === undefined || d.file.fileName === file)
    .map((d) => {
      const text = ts.flattenDiagnosticMessageText(d.messageText, "\n");
      if (d.file === undefined || d.start === undefined) return text;
      const { line } = d.file.getLineAndCharacterOfPosition(d.start);
      return `line ${line + 1}: ${text}`;
    });
}

describe("README", () => {
  it("has TypeScript snippets", () => {
    expect(readmeSnippets().length).toBeGreaterThan(0);
  });

  it.each(readmeSnippets().map((s, i) => [i + 1, s] as const))(
    "TypeScript snippet %i compiles as written",
    (i, source) => {
      // `export {}` makes it a module, as a file of the reader's project would be (top-level await).
      expect(typecheck(`${source}\nexport {};\n`, `readme-snippet-${i}.ts`)).toEqual([]);
    },
    60_000,
  );
});

describe("README configuration", () => {
  it.each([
    ["the service", loadConfig],
    ["the gateway", loadGatewayConfig],
    ["make run's demo", demoSettings],
  ] as const)("names every variable %s reads", (_, load) => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const names = variablesRead(load);
    expect(names.length).toBeGreaterThan(2);
    expect(names.filter((n) => !readme.includes(`\`${n}\``))).toEqual([]);
  });
});

describe("first-start banner", () => {
  it("pastes commands that run from a checkout: buf through npx", () => {
    const banner = devSeedBanner({ org: "dev", project: "default", key: "tsr_x" }, "http://127.0.0.1:8080");
    const commands = banner
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => /^(grpcurl|buf|npx|curl)\b/.test(l));
    expect(commands.length).toBeGreaterThan(0);
    for (const c of commands) expect(c).not.toMatch(/^buf /);
    expect(commands.some((c) => c.startsWith("npx buf curl "))).toBe(true);
    expect(existsSync(join(ROOT, "node_modules/.bin/buf"))).toBe(true);
  });
});
