import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccountService, KeyScope } from "../gen/accounts/v1/accounts_pb.js";
import { ReleaseService } from "../gen/releases/v1/releases_pb.js";
import { SourceService } from "../gen/sources/v1/sources_pb.js";
import { createApiKey } from "../server/auth/keys.js";
import { demoBanner, demoSettings, inspectorCommand, INSPECTOR_VERSION, startDemo } from "../server/demo/demo.js";
import { startPetStore, type PetStore } from "../server/demo/petstore.js";
import { CONSOLE_KEY_NAME, DEMO, seedDemo } from "../server/demo/seed.js";
import { devSeedBanner, seedDev } from "../server/dev-seed.js";
import { silentLogger } from "../server/platform/logging.js";
import { bearer, outcome } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";

// The demo of `make run` (DESIGN §10): the pet store the dev process serves, the
// seed of its tools and public toolset (idempotent on every start), and the
// banner's MCP URL and Inspector command.

const { server } = useTestServer();

let store: PetStore;
beforeAll(async () => {
  store = await startPetStore(0);
});
afterAll(async () => {
  await store?.close();
});

/** A JSON request to the pet store: status and parsed body. */
async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${store.url}${path}`, {
    method,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  expect(res.headers.get("content-type")).toBe("application/json");
  return { status: res.status, body: (await res.json()) as unknown };
}

/** Row counts of what the seed writes in dev/default. */
async function counts() {
  const n = (table: "deployments" | "toolsets" | "toolset_versions" | "prompt_templates" | "http_tool_definitions") =>
    server.db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<string>().as("n"))
      .executeTakeFirstOrThrow()
      .then((r) => Number(r.n));
  return {
    deployments: await n("deployments"),
    tools: await n("http_tool_definitions"),
    toolsets: await n("toolsets"),
    versions: await n("toolset_versions"),
    prompts: await n("prompt_templates"),
  };
}

const anonymousResolve = () => server.client(ReleaseService).resolveToolset({ organization: DEMO.org, project: DEMO.project, mcpSlug: DEMO.mcpSlug });

describe("the pet store", () => {
  it("lists, filters and limits the pets", async () => {
    const all = await call("GET", "/pets");
    expect(all.status).toBe(200);
    expect(all.body).toEqual([
      { id: 1, name: "Rex", tag: "dog" },
      { id: 2, name: "Tom", tag: "cat" },
      { id: 3, name: "Nemo", tag: "fish" },
    ]);
    expect((await call("GET", "/pets?tag=cat")).body).toEqual([{ id: 2, name: "Tom", tag: "cat" }]);
    expect((await call("GET", "/pets?limit=1")).body).toEqual([{ id: 1, name: "Rex", tag: "dog" }]);
    expect(await call("GET", "/pets?limit=0")).toEqual({
      status: 400,
      body: { error: 'limit must be an integer from 1 to 100, got "0"', status: 400 },
    });
  });

  it("gets, creates and deletes a pet; a missing one is a JSON 404", async () => {
    expect(await call("GET", "/pets/2")).toEqual({ status: 200, body: { id: 2, name: "Tom", tag: "cat" } });
    const created = await call("POST", "/pets", { name: "Bubbles", tag: "fish" });
    expect(created).toEqual({ status: 201, body: { id: 4, name: "Bubbles", tag: "fish" } });
    expect(await call("POST", "/pets", { name: "Nameless" })).toEqual({ status: 201, body: { id: 5, name: "Nameless", tag: null } });
    expect(await call("DELETE", "/pets/4")).toEqual({ status: 200, body: { id: 4, name: "Bubbles", tag: "fish" } });
    expect(await call("GET", "/pets/4")).toEqual({ status: 404, body: { error: "no pet with id 4", status: 404 } });
    expect(await call("DELETE", "/pets/4")).toEqual({ status: 404, body: { error: "no pet with id 4", status: 404 } });
  });

  it("refuses bad requests with JSON errors", async () => {
    expect((await call("GET", "/pets/abc")).status).toBe(400);
    expect((await call("POST", "/pets", { tag: "dog" })).status).toBe(400);
    expect((await call("POST", "/pets", "{not json")).status).toBe(400);
    expect((await call("POST", "/pets", "name=Rex", { "content-type": "application/x-www-form-urlencoded" })).status).toBe(415);
    expect((await call("GET", "/owners")).status).toBe(404);
    expect((await call("PUT", "/pets/1", { name: "Max" })).status).toBe(405);
  });
});

describe("the seed", () => {
  it("does nothing without dev/default", async () => {
    expect(await seedDemo(server.db, store.url)).toBeUndefined();
  });

  it("deploys the four tools beside those of other sources and serves them at a public endpoint", async () => {
    await seedDev(server.db);
    // A tool dev/default had before the demo stays deployed.
    const key = await createApiKey(server.db, { org: DEMO.org, scope: "producer" });
    await server
      .client(SourceService)
      .createDeployment(
        { project: DEMO.project, tools: [{ source: "mine", name: "ping", httpMethod: "GET", path: "/ping", serverUrl: "https://api.example.com" }] },
        bearer(key.key),
      );

    const endpoint = await seedDemo(server.db, store.url);
    expect(endpoint).toEqual({ created: true, org: "dev", project: "default", mcpSlug: "petstore", mcpEnabled: true, mcpIsPublic: true });

    const active = await server.client(SourceService).getDeployment({ project: DEMO.project }, bearer(key.key));
    expect(active.deployment!.toolUrns).toEqual([
      "tools:http:mine:ping",
      "tools:http:petstore:create_pet",
      "tools:http:petstore:delete_pet",
      "tools:http:petstore:get_pet",
      "tools:http:petstore:list_pets",
    ]);

    // Anonymously, as the gateway resolves a public endpoint.
    const { resolved } = await anonymousResolve();
    expect(resolved!.mcpEnabled && resolved!.mcpIsPublic).toBe(true);
    expect(resolved!.tools.map((t) => t.name)).toEqual(["create_pet", "delete_pet", "get_pet", "list_pets"]);
    const byName = new Map(resolved!.tools.map((t) => [t.name, t]));
    for (const t of resolved!.tools) expect(t.serverUrl).toBe(store.url);
    expect(byName.get("get_pet")).toMatchObject({ httpMethod: "GET", path: "/pets/{petId}" });
    expect(byName.get("get_pet")!.inputSchema).toMatchObject({ type: "object", required: ["petId"], properties: { petId: { type: "integer" } } });
    expect(byName.get("delete_pet")).toMatchObject({ httpMethod: "DELETE", path: "/pets/{petId}", annotations: { destructiveHint: true } });
    expect(byName.get("list_pets")!.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false });
    expect(byName.get("create_pet")!.inputSchema).toMatchObject({ required: ["name"] });
    expect(resolved!.prompts.map((p) => p.name)).toEqual(["find_pet"]);
    expect(resolved!.prompts[0]!.prompt).toContain("{{tag}}");
  });

  it("is a no-op on the next start, even when the pet store moved", async () => {
    const before = await counts();
    const etag = (await anonymousResolve()).resolved!.etag;
    const again = await seedDemo(server.db, "http://127.0.0.1:1");
    expect(again).toMatchObject({ created: false, mcpSlug: "petstore", mcpEnabled: true, mcpIsPublic: true });
    expect(await counts()).toEqual(before);
    expect((await anonymousResolve()).resolved!.etag).toBe(etag);
  });

  it("startDemo starts the pet store, seeds and prints the banner; a taken port leaves the demo off", async () => {
    let banner = "";
    const out = { write: (s: string) => (banner += s) };
    const demo = await startDemo(server.db, { petStorePort: 0, gatewayUrl: "http://127.0.0.1:8081" }, silentLogger, out);
    try {
      expect(demo!.endpoint).toMatchObject({ created: false });
      expect((await fetch(`${demo!.petStore.url}/pets/1`)).status).toBe(200);
      expect(banner).toContain("http://127.0.0.1:8081/mcp/dev/default/petstore");
    } finally {
      await demo?.close();
    }
    banner = "";
    expect(await startDemo(server.db, { petStorePort: store.port, gatewayUrl: "http://127.0.0.1:8081" }, silentLogger, out)).toBeUndefined();
    expect(banner).toBe("");
  });
});

describe("the console in the banner", () => {
  const site = { url: "http://127.0.0.1:8080/console/", built: true };

  it("shows the console's URL and a producer key issued for it, a new one on each start (the last one revoked)", async () => {
    const keys: string[] = [];
    for (let i = 0; i < 2; i++) {
      let banner = "";
      const demo = await startDemo(server.db, { petStorePort: 0, gatewayUrl: "http://127.0.0.1:8081", console: site }, silentLogger, {
        write: (s: string) => (banner += s),
      });
      await demo?.close();
      expect(banner).toContain("  http://127.0.0.1:8080/console/\n");
      expect(banner).not.toContain("make console");
      keys.push(/^ {2}(tsr_\S+)$/m.exec(banner)?.[1] ?? "no key in the banner");
    }
    const accounts = server.client(AccountService);
    expect(await accounts.getCaller({}, bearer(keys[1]!))).toMatchObject({
      keyName: CONSOLE_KEY_NAME,
      scope: KeyScope.PRODUCER,
      organization: { slug: DEMO.org },
      projectSlug: "",
    });
    expect((await accounts.listProjects({}, bearer(keys[1]!))).projects.map((p) => p.slug)).toContain(DEMO.project);
    await expect.poll(() => outcome(accounts.getCaller({}, bearer(keys[0]!)))).toBe(Code.Unauthenticated);
  });

  it("says how to build the console when it is not built, and nothing of it when it is not served", () => {
    const endpoint = { created: false, org: "dev", project: "default", mcpSlug: "petstore", mcpEnabled: true, mcpIsPublic: true };
    const unbuilt = demoBanner(endpoint, "http://127.0.0.1:8082", "http://127.0.0.1:8081", { ...site, built: false, key: "tsr_k" });
    expect(unbuilt).toContain("make console");
    expect(unbuilt).toContain("  tsr_k\n");
    // A private endpoint's banner still shows the console.
    expect(demoBanner({ ...endpoint, mcpIsPublic: false }, "http://127.0.0.1:8082", "", { ...site, key: "tsr_k" })).toContain(site.url);
    expect(demoBanner(endpoint, "http://127.0.0.1:8082", "http://127.0.0.1:8081")).not.toContain("/console/");
  });

  it("the first-start banner points at the console too", () => {
    const seed = { org: "dev", project: "default", key: "tsr_x" };
    expect(devSeedBanner(seed, "http://127.0.0.1:8080", site.url)).toContain(`console at ${site.url}`);
    expect(devSeedBanner(seed, "http://127.0.0.1:8080")).not.toContain("console");
  });
});

describe("the banner", () => {
  const endpoint = { created: false, org: "dev", project: "default", mcpSlug: "petstore", mcpEnabled: true, mcpIsPublic: true };

  it("shows the MCP URL and an Inspector command for it", () => {
    const banner = demoBanner(endpoint, "http://127.0.0.1:8082", demoSettings({}).gatewayUrl);
    expect(banner).toContain("  http://127.0.0.1:8081/mcp/dev/default/petstore\n");
    expect(banner).toContain(`  ${inspectorCommand("http://127.0.0.1:8081/mcp/dev/default/petstore")}\n`);
  });

  it("runs the Inspector on a Node it supports", () => {
    const url = "http://127.0.0.1:8081/mcp/dev/default/petstore";
    expect(inspectorCommand(url, "tools/list", "", "20.19.0")).toBe(
      `npx -y -p node@22 -p @modelcontextprotocol/inspector@${INSPECTOR_VERSION} mcp-inspector --cli ${url} --transport http --method tools/list`,
    );
    expect(inspectorCommand(url, "tools/list", "", "22.19.0")).toBe(
      `npx -y @modelcontextprotocol/inspector@${INSPECTOR_VERSION} --cli ${url} --transport http --method tools/list`,
    );
  });

  it("says so when the endpoint was made private or disabled since", () => {
    const banner = demoBanner({ ...endpoint, mcpIsPublic: false }, "http://127.0.0.1:8082", "http://127.0.0.1:8081");
    expect(banner).toContain("is private");
    expect(banner).not.toContain("npx");
  });

  it("reads its settings: DEMO, DEMO_PETSTORE_PORT, and the gateway's address", () => {
    expect(demoSettings({})).toEqual({ enabled: false, petStorePort: 8082, gatewayUrl: "http://127.0.0.1:8081" });
    expect(demoSettings({ DEMO: "true", DEMO_PETSTORE_PORT: "9000", GATEWAY_HOST: "0.0.0.0", GATEWAY_PORT: "9001" })).toEqual({
      enabled: true,
      petStorePort: 9000,
      gatewayUrl: "http://127.0.0.1:9001",
    });
    expect(() => demoSettings({ DEMO: "maybe" })).toThrow("DEMO");
    expect(() => demoSettings({ DEMO_PETSTORE_PORT: "0" })).toThrow("DEMO_PETSTORE_PORT");
  });
});
