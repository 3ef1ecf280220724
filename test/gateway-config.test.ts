import { describe, expect, it } from "vitest";
import { GatewayConfigError, loadGatewayConfig } from "../gateway/config.js";

// The gateway's configuration (issue 10): typed, with defaults, and a bad value
// stops it with a message naming the variable.

describe("gateway configuration", () => {
  it("has the documented defaults", () => {
    const c = loadGatewayConfig({});
    expect(c.port).toBe(8081);
    expect(c.host).toBe("127.0.0.1");
    expect(c.tsrUrl).toBe("http://127.0.0.1:8080");
    expect(c.allowedHosts).toEqual(["localhost", "127.0.0.1", "::1"]);
    expect(c.upstreamAllow.entries).toEqual([]);
    expect(c.maxRequestBytes).toBe(1024 * 1024);
  });

  it("binding a name adds it to the allowed hosts; GATEWAY_ALLOWED_HOSTS replaces them", () => {
    expect(loadGatewayConfig({ GATEWAY_HOST: "mcp.internal" }).allowedHosts).toContain("mcp.internal");
    expect(loadGatewayConfig({ GATEWAY_HOST: "0.0.0.0" }).allowedHosts).toEqual(["localhost", "127.0.0.1", "::1"]);
    expect(loadGatewayConfig({ GATEWAY_ALLOWED_HOSTS: "mcp.example.com, [::1]" }).allowedHosts).toEqual(["mcp.example.com", "::1"]);
  });

  it.each([
    ["GATEWAY_PORT", "80a"],
    ["GATEWAY_PORT", "70000"],
    ["TSR_URL", "localhost:8080"],
    ["TSR_URL", "ftp://x"],
    ["GATEWAY_UPSTREAM_ALLOW", "10.0.0.0/33"],
    ["GATEWAY_ALLOWED_ORIGINS", "example.com"],
    ["GATEWAY_ALLOWED_HOSTS", "a b"],
    ["GATEWAY_UPSTREAM_TIMEOUT_MS", "-1"],
    ["GATEWAY_MAX_REQUEST_BYTES", "12"],
    ["LOG_LEVEL", "loud"],
  ])("a bad %s (%s) is an error naming it", (name, value) => {
    let error: unknown;
    try {
      loadGatewayConfig({ [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(GatewayConfigError);
    expect((error as GatewayConfigError).variable).toBe(name);
    expect((error as Error).message).toContain(name);
  });
});
