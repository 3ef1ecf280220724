import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../server/config.js";
import { createLogger } from "../server/platform/logging.js";
import { useTestServer } from "../server/testing/use-test-server.js";

const lines: string[] = [];
const { server } = useTestServer({
  server: { corsAllowedOrigins: ["https://app.example.com"], logger: createLogger("info", { write: (s: string) => lines.push(s) }) },
});

describe("CORS configuration", () => {
  it.each(["localhost:3000", "app.example.com", "ftp://files.example.com"])("%s is refused with what an origin looks like", (value) => {
    let err: unknown;
    try {
      loadConfig({ CORS_ALLOWED_ORIGINS: value });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).toContain("CORS_ALLOWED_ORIGINS");
    expect(message).toContain(JSON.stringify(value));
    expect(message).toMatch(/scheme:\/\/host\[:port\]/);
    expect(message).toContain("http://localhost:3000");
    expect(message).not.toContain("null");
  });

  it("accepts origins with a scheme, and *", () => {
    expect(loadConfig({ CORS_ALLOWED_ORIGINS: "http://localhost:3000, https://app.example.com" }).corsAllowedOrigins).toEqual([
      "http://localhost:3000",
      "https://app.example.com",
    ]);
    expect(loadConfig({ CORS_ALLOWED_ORIGINS: "*" }).corsAllowedOrigins).toEqual(["*"]);
  });
});

describe("CORS at run time", () => {
  it("a refused preflight is logged with its origin", async () => {
    const res = await fetch(`${server.baseUrl}/toolsets.v1.ToolsetService/ListToolsets`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example.com", "access-control-request-method": "POST" },
    });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l["msg"] === "cors preflight refused");
    expect(logged).toMatchObject({ level: "warn", origin: "https://evil.example.com", path: "/toolsets.v1.ToolsetService/ListToolsets" });
  });

  it("an allowed preflight is not logged as refused", async () => {
    lines.length = 0;
    const res = await fetch(`${server.baseUrl}/toolsets.v1.ToolsetService/ListToolsets`, {
      method: "OPTIONS",
      headers: { origin: "https://app.example.com", "access-control-request-method": "POST" },
    });
    expect(res.status).toBe(204);
    expect(lines.join("")).not.toContain("cors preflight refused");
  });
});
