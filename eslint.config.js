// @ts-check
import js from "@eslint/js";
import reactHooks from "eslint-plugin-react-hooks";
import tseslint from "typescript-eslint";

// The layers of DESIGN §7, enforced: arrows point down only.
//   handlers (sources/ toolsets/ releases/ accounts/) → auth/, model/, resolve/ → db/, platform/
// A service folder never imports another; nothing below the handlers imports
// them or the app; gateway/ and web/ depend on gen/ alone. Imports are relative,
// so each rule names the folders a file may not reach with `../`.
const SERVICES = ["sources", "toolsets", "releases", "accounts"];

/** A no-restricted-imports pattern for the sibling folders or modules of server/ named. */
function forbid(names, message) {
  return { regex: `^(?:\\.\\./)+(?:${names.join("|")})(?:/|\\.js$)`, message };
}

/** Restricts what the files of `folder` (a folder of server/) may import. */
function layer(folder, patterns) {
  return { files: [`server/${folder}/**`], rules: { "no-restricted-imports": ["error", { patterns }] } };
}

const NOT_THE_APP = forbid(
  ["app", "main"],
  "Only main.ts and the test server assemble the app; handlers get what they need from the ServiceContext (context.ts).",
);

export default tseslint.config(
  { ignores: ["gen/**", "node_modules/**", ".data/**", "dist/**", "web/dist/**", "artifacts/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      eqeqeq: ["error", "always"],
    },
  },
  {
    // Type-aware rules over what tsconfig.json includes (the project service reads it once).
    files: ["server/**/*.ts", "gateway/**/*.ts", "test/**/*.ts", "bench/**/*.ts", "*.config.ts"],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
    },
  },
  ...SERVICES.map((service) =>
    layer(service, [
      NOT_THE_APP,
      forbid(
        SERVICES.filter((s) => s !== service),
        "A service folder never imports another: move what both need to model/ (queries and rules) or resolve/.",
      ),
    ]),
  ),
  layer("model", [
    NOT_THE_APP,
    forbid(
      [...SERVICES, "resolve", "serving", "auth", "context"],
      "model/ is below the services, resolve/ and auth/: it imports only db/ and platform/.",
    ),
  ]),
  layer("resolve", [NOT_THE_APP, forbid([...SERVICES, "auth", "context"], "resolve/ is below the services: it imports model/, db/ and platform/.")]),
  layer("serving", [
    NOT_THE_APP,
    forbid(
      [...SERVICES, "auth", "model", "resolve", "db", "context"],
      "serving/ (change feed, served state, watch topics) knows no queries: callers pass their fills in; it imports platform/.",
    ),
  ]),
  layer("auth", [NOT_THE_APP, forbid([...SERVICES, "resolve", "context"], "auth/ is below the services: it imports model/, db/ and platform/.")]),
  layer("platform", [
    NOT_THE_APP,
    forbid(
      [...SERVICES, "auth", "model", "resolve", "serving", "context"],
      "platform/ is the bottom layer: pass in what it needs (see observeInterceptor's callerIdOf).",
    ),
  ]),
  layer("db", [
    NOT_THE_APP,
    forbid([...SERVICES, "auth", "model", "resolve", "serving", "context"], "db/ is the bottom layer: it imports only platform/."),
  ]),
  {
    // The console runs in a browser: TypeScript (web/tsconfig.json, DOM lib) checks its globals.
    files: ["web/src/**"],
    plugins: { "react-hooks": reactHooks },
    rules: { ...reactHooks.configs.recommended.rules, "no-undef": "off" },
  },
  {
    files: ["gateway/**", "web/**"],
    // The browser tests start a real service in-process (server/testing), as the other suites do.
    ignores: ["web/e2e/**"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              // Relative imports only: packages such as @modelcontextprotocol/server are fine.
              regex: "^(?:\\.\\./)+server(?:/|$)",
              message: "gateway/ and web/ talk to the release service through the generated clients in gen/, never server/.",
            },
          ],
        },
      ],
    },
  },
);
