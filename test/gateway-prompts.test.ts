import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpTool as tool, uniqueSlug } from "../server/testing/fixtures.js";
import { useTestServer } from "../server/testing/use-test-server.js";
import { connectClient, ERAS, startTestGateway, type McpTestClient, type TestGateway } from "./support/gateway.js";

// prompts/list and prompts/get (issue 10): arguments from the template's JSON
// Schema, `{{name}}` substitution, a clear error for a missing or unknown
// argument; and the JSON log line of each MCP request (never a key or an
// argument value).

const { server, tenant, api } = useTestServer({ tenants: 1 });
let gw: TestGateway;
let base = "";
const clients: McpTestClient[] = [];

beforeAll(async () => {
  await api.deploy([tool("a")]);
  await api.upsertPrompt("triage", "Triage {{ticket}} for {{ team }}; keep {{unknown}} as written.", {
    description: "Triage a ticket",
    arguments: {
      type: "object",
      properties: { ticket: { type: "string", description: "The ticket id" }, team: { type: "string" } },
      required: ["ticket"],
    },
  });
  const slug = uniqueSlug("ts");
  const mcpSlug = uniqueSlug("mcp");
  await api.createToolset(slug, ["a"], ["triage"]);
  await api.editLive(slug, { mcpSlug, mcpEnabled: true, mcpIsPublic: false });
  base = `${tenant.org}/${tenant.project}/${mcpSlug}`;
  gw = await startTestGateway(server.baseUrl);
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await gw?.close();
});

describe.each(ERAS)("on %s", (era) => {
  const connect = async () => {
    const c = await connectClient(era, gw.mcpUrl(base), { key: tenant.consumerKey });
    clients.push(c);
    return c;
  };

  it("prompts/list shows each prompt with its arguments", async () => {
    const c = await connect();
    const { prompts } = await c.listPrompts();
    expect(prompts).toEqual([
      {
        name: "triage",
        description: "Triage a ticket",
        arguments: [
          { name: "team", required: false },
          { name: "ticket", description: "The ticket id", required: true },
        ],
      },
    ]);
  });

  it("prompts/get substitutes the arguments", async () => {
    const c = await connect();
    const got = await c.getPrompt("triage", { ticket: "T-42", team: "core" });
    expect(got.messages).toEqual([{ role: "user", content: { type: "text", text: "Triage T-42 for core; keep {{unknown}} as written." } }]);
    const optionalLeftOut = await c.getPrompt("triage", { ticket: "T-1" });
    expect(optionalLeftOut.messages[0]?.content).toEqual({ type: "text", text: "Triage T-1 for ; keep {{unknown}} as written." });
  });

  it("a missing required argument, an unknown argument or prompt is an invalid-params error naming it", async () => {
    const c = await connect();
    await expect(c.getPrompt("triage", { team: "core" })).rejects.toThrow(/needs argument "ticket"/);
    await expect(c.getPrompt("triage", { ticket: "T", color: "red" })).rejects.toThrow(/no argument "color"/);
    await expect(c.getPrompt("nope")).rejects.toThrow(/unknown prompt: nope/);
  });
});

describe("the request log", () => {
  it("has one line per MCP request with method, endpoint, era, release, status and duration, and no key or argument value", async () => {
    const before = gw.logs.length;
    const c = await connectClient("2025-11-25", gw.mcpUrl(base), { key: tenant.consumerKey });
    clients.push(c);
    await c.getPrompt("triage", { ticket: "SECRET-TICKET-VALUE" });
    const m = await connectClient("2026-07-28", gw.mcpUrl(base), { key: tenant.consumerKey, listen: false });
    clients.push(m);
    await m.listTools();
    const lines = gw.logs.slice(before).filter((l) => l["msg"] === "mcp request");
    const get = lines.find((l) => l["method"] === "prompts/get");
    expect(get).toMatchObject({ endpoint: base, era: "2025", release: 0, status: 200, outcome: "ok" });
    expect(typeof get?.["duration_ms"]).toBe("number");
    expect(lines.find((l) => l["method"] === "initialize")).toMatchObject({ endpoint: base, era: "2025" });
    expect(lines.find((l) => l["method"] === "tools/list" && l["era"] === "2026")).toMatchObject({ endpoint: base, status: 200, release: 0 });
    const text = JSON.stringify(gw.logs.slice(before));
    expect(text).not.toContain(tenant.consumerKey);
    expect(text).not.toContain("SECRET-TICKET-VALUE");
  });
});
