import { describe, expect, it } from "vitest";
import { useTestServer } from "../server/testing/use-test-server.js";

// Decision: a JSON request naming a field the message does not have is refused
// with INVALID_ARGUMENT naming that field, as proto3 JSON parsers do by default;
// a misspelt optional field must not be dropped without a word.

const { server, tenant } = useTestServer({ tenants: 1 });

const auth = (key: string) => ({ authorization: `Bearer ${key}` });

describe("unknown JSON fields", () => {
  it("a Connect JSON POST with a misspelt field is INVALID_ARGUMENT naming it", async () => {
    const res = await fetch(`${server.baseUrl}/toolsets.v1.ToolsetService/ListToolsets`, {
      method: "POST",
      headers: { "content-type": "application/json", ...auth(tenant.consumerKey) },
      body: JSON.stringify({ project: tenant.project, pageSise: 5 }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe("invalid_argument");
    expect(body.message).toContain("pageSise");
  });

  it("a Connect GET of a NO_SIDE_EFFECTS RPC with a misspelt field is INVALID_ARGUMENT naming it", async () => {
    const message = encodeURIComponent(JSON.stringify({ project: tenant.project, pageSise: 5 }));
    const res = await fetch(`${server.baseUrl}/toolsets.v1.ToolsetService/ListToolsets?encoding=json&message=${message}&connect=v1`, {
      headers: auth(tenant.consumerKey),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe("invalid_argument");
    expect(body.message).toContain("pageSise");
  });

  it("known fields in either spelling still work", async () => {
    for (const body of [
      { project: tenant.project, pageSize: 5 },
      { project: tenant.project, page_size: 5 },
    ]) {
      const res = await fetch(`${server.baseUrl}/toolsets.v1.ToolsetService/ListToolsets`, {
        method: "POST",
        headers: { "content-type": "application/json", ...auth(tenant.consumerKey) },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(200);
    }
  });
});
