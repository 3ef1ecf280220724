import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../server/config.js";

describe("serving configuration", () => {
  it("defaults: served state 256 MiB, keepalive 15 s, the change feed on the pool's database", () => {
    const config = loadConfig({});
    expect([config.servedStateMaxMb, config.watchKeepaliveMs, config.listenDatabaseUrl]).toEqual([256, 15_000, undefined]);
  });

  it("reads the variables", () => {
    const config = loadConfig({ SERVED_STATE_MAX_MB: "0", WATCH_KEEPALIVE_MS: "30000", LISTEN_DATABASE_URL: "postgres://direct:5432/db" });
    expect([config.servedStateMaxMb, config.watchKeepaliveMs, config.listenDatabaseUrl]).toEqual([0, 30_000, "postgres://direct:5432/db"]);
  });

  it.each([
    ["SERVED_STATE_MAX_MB", "-1"],
    ["SERVED_STATE_MAX_MB", "lots"],
    ["WATCH_KEEPALIVE_MS", "31000"],
    ["WATCH_KEEPALIVE_MS", "50"],
    ["LISTEN_DATABASE_URL", "mysql://host/db"],
    ["LISTEN_DATABASE_URL", "not a url"],
  ])("a bad %s (%s) stops start-up naming it", (variable, value) => {
    let error: unknown;
    try {
      loadConfig({ [variable]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
  });
});
