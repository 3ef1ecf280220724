import { describe, expect, it } from "vitest";
import { mcpEndpoints } from "./endpoints.js";

describe("mcpEndpoints", () => {
  const address = { gatewayUrl: "http://127.0.0.1:8081/", organization: "dev", project: "default", mcpSlug: "petstore" };

  it("lists live, staging and each release under the gateway (DESIGN §10)", () => {
    expect(mcpEndpoints(address, { staging: true, releases: [2n, 1n] })).toEqual([
      { label: "Live", url: "http://127.0.0.1:8081/mcp/dev/default/petstore" },
      { label: "Staging", url: "http://127.0.0.1:8081/mcp/dev/default/petstore/staging" },
      { label: "Release 2", url: "http://127.0.0.1:8081/mcp/dev/default/petstore/releases/2" },
      { label: "Release 1", url: "http://127.0.0.1:8081/mcp/dev/default/petstore/releases/1" },
    ]);
  });

  it("has no staging endpoint in iteration mode, paths only without a gateway URL, nothing without an MCP slug", () => {
    expect(mcpEndpoints({ ...address, gatewayUrl: "" }, { staging: false, releases: [] })).toEqual([
      { label: "Live", url: "/mcp/dev/default/petstore" },
    ]);
    expect(mcpEndpoints({ ...address, mcpSlug: "" }, { staging: true, releases: [1n] })).toEqual([]);
  });
});
