import { Code } from "@connectrpc/connect";
import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { AccountService, KeyScope } from "../gen/accounts/v1/accounts_pb.js";
import { createApiKey } from "../server/auth/keys.js";
import { createOrganization, createProject } from "../server/auth/tenants.js";
import { uniqueSlug } from "../server/testing/fixtures.js";
import { bearer, failure, PROTOCOLS } from "../server/testing/server.js";
import { useTestServer } from "../server/testing/use-test-server.js";

const { server, tenant, other } = useTestServer({ tenants: 2 });

// An organization of its own, so its project list is known exactly.
const org = uniqueSlug("acct");
const SLUGS = ["alpha", "bravo", "charlie", "delta", "echo"];
let producer: string;
let consumer: string;
let bound: string;
let boundToDeleted: string;

beforeAll(async () => {
  await createOrganization(server.db, { slug: org, name: "Accounts Inc" });
  // Created out of order: the list is by slug, not by creation.
  for (const slug of [...SLUGS].reverse()) await createProject(server.db, { org, slug, name: `Project ${slug}` });
  await createProject(server.db, { org, slug: "gone" });
  await createProject(server.db, { org, slug: "zulu-gone" });
  producer = (await createApiKey(server.db, { org, scope: "producer", name: "console-producer" })).key;
  consumer = (await createApiKey(server.db, { org, scope: "consumer", name: "console-reader" })).key;
  bound = (await createApiKey(server.db, { org, scope: "consumer", project: "charlie", name: "charlie-only" })).key;
  boundToDeleted = (await createApiKey(server.db, { org, scope: "producer", project: "zulu-gone", name: "zulu-only" })).key;
  await sql`UPDATE projects SET deleted_at = now() WHERE slug IN ('gone', 'zulu-gone')`.execute(server.db);
});

const accounts = () => server.client(AccountService);

describe("GetCaller", () => {
  it("a producer key: its name, scope and organization, no project", async () => {
    expect(await accounts().getCaller({}, bearer(producer))).toMatchObject({
      keyName: "console-producer",
      scope: KeyScope.PRODUCER,
      organization: { slug: org, name: "Accounts Inc" },
      projectSlug: "",
    });
  });

  it("a consumer key may call it and is told it reads only", async () => {
    expect(await accounts().getCaller({}, bearer(consumer))).toMatchObject({ keyName: "console-reader", scope: KeyScope.CONSUMER, projectSlug: "" });
  });

  it("a project-bound key is told its project, also once that project is deleted", async () => {
    expect(await accounts().getCaller({}, bearer(bound))).toMatchObject({ scope: KeyScope.CONSUMER, projectSlug: "charlie" });
    expect((await accounts().getCaller({}, bearer(boundToDeleted))).projectSlug).toBe("zulu-gone");
  });

  it.each(PROTOCOLS)("answers over %s", async (protocol) => {
    const res = await server.client(AccountService, protocol).getCaller({}, bearer(tenant.producerKey));
    expect(res.organization?.slug).toBe(tenant.org);
  });
});

describe("ListProjects", () => {
  it("lists the organization's live projects by slug, none of another organization, no deleted one", async () => {
    const { projects, nextPageToken } = await accounts().listProjects({}, bearer(consumer));
    expect(projects.map((p) => p.slug)).toEqual(SLUGS);
    expect(nextPageToken).toBe("");
    expect(projects[0]).toMatchObject({ slug: "alpha", name: "Project alpha" });
    expect(projects[0]?.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(projects[0]?.createdAt?.seconds).toBeGreaterThan(0n);
    const theirs = await accounts().listProjects({}, bearer(other.consumerKey));
    expect(theirs.projects.map((p) => p.slug)).toEqual([other.project]);
  });

  it("pages by slug with page_size and next_page_token", async () => {
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const res = await accounts().listProjects({ pageSize: 2, pageToken }, bearer(producer));
      expect(res.projects.length).toBeLessThanOrEqual(2);
      seen.push(...res.projects.map((p) => p.slug));
      pageToken = res.nextPageToken;
      pages++;
    } while (pageToken !== "");
    expect(seen).toEqual(SLUGS);
    expect(pages).toBe(3);
  });

  it("a project-bound key sees only its project; none once it is deleted", async () => {
    expect((await accounts().listProjects({}, bearer(bound))).projects.map((p) => p.slug)).toEqual(["charlie"]);
    expect((await accounts().listProjects({}, bearer(boundToDeleted))).projects).toEqual([]);
  });

  it("refuses a negative page_size and a token of another list or organization", async () => {
    const negative = await failure(accounts().listProjects({ pageSize: -1 }, bearer(producer)));
    expect(negative.code).toBe(Code.InvalidArgument);
    expect(negative.message).toContain("page_size");
    const { nextPageToken } = await accounts().listProjects({ pageSize: 1 }, bearer(producer));
    expect(nextPageToken).not.toBe("");
    for (const key of [bound, other.producerKey]) {
      const err = await failure(accounts().listProjects({ pageToken: nextPageToken }, bearer(key)));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.message).toContain("page_token");
    }
    expect((await failure(accounts().listProjects({ pageToken: "not-a-token" }, bearer(producer)))).code).toBe(Code.InvalidArgument);
  });
});

describe("without a valid key", () => {
  it.each([
    ["no key", {}],
    ["an unknown key", bearer(`tsr_${"a".repeat(43)}`)],
    ["a malformed key", bearer("nope")],
  ])("%s is UNAUTHENTICATED", async (_, options) => {
    expect((await failure(accounts().getCaller({}, options))).code).toBe(Code.Unauthenticated);
    expect((await failure(accounts().listProjects({}, options))).code).toBe(Code.Unauthenticated);
  });
});
