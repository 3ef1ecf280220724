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
    expect([c.rateLimitPerSecond, c.rateLimitBurst]).toEqual([50, 100]);
    expect(c.notFoundTtlMs).toBe(5_000);
    expect(c.maxConcurrentCalls).toBe(256);
    expect(c.maxSessionsPerClient).toBe(1_000);
    expect(c.trustedProxyHops).toBe(0);
    expect([c.headersTimeoutMs, c.requestTimeoutMs, c.keepAliveTimeoutMs]).toEqual([10_000, 30_000, 65_000]);
  });

  it("a rate without a burst gets a burst of twice the rate; 0 turns the limit off", () => {
    expect(loadGatewayConfig({ GATEWAY_RATE_LIMIT_PER_SECOND: "7" })).toMatchObject({ rateLimitPerSecond: 7, rateLimitBurst: 14 });
    expect(loadGatewayConfig({ GATEWAY_RATE_LIMIT_PER_SECOND: "7", GATEWAY_RATE_LIMIT_BURST: "3" })).toMatchObject({ rateLimitBurst: 3 });
    expect(loadGatewayConfig({ GATEWAY_RATE_LIMIT_PER_SECOND: "0" })).toMatchObject({ rateLimitPerSecond: 0, rateLimitBurst: 1 });
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
    ["GATEWAY_RATE_LIMIT_PER_SECOND", "-1"],
    ["GATEWAY_RATE_LIMIT_BURST", "0"],
    ["GATEWAY_NOT_FOUND_TTL_MS", "soon"],
    ["GATEWAY_MAX_CONCURRENT_CALLS", "0"],
    ["GATEWAY_MAX_SESSIONS_PER_CLIENT", "0"],
    ["GATEWAY_TRUSTED_PROXY_HOPS", "11"],
    ["GATEWAY_HEADERS_TIMEOUT_MS", "50"],
    ["GATEWAY_REQUEST_TIMEOUT_MS", "1.5"],
    ["GATEWAY_KEEP_ALIVE_TIMEOUT_MS", "99"],
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

  it("a headers timeout longer than the request timeout is an error naming it (Node.js would refuse it at start)", () => {
    expect(() => loadGatewayConfig({ GATEWAY_HEADERS_TIMEOUT_MS: "20000", GATEWAY_REQUEST_TIMEOUT_MS: "10000" })).toThrow(
      /GATEWAY_HEADERS_TIMEOUT_MS/,
    );
  });
});
