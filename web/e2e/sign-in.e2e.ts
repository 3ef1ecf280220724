import { beforeAll, describe, expect, it } from "vitest";
import { createProject, screenshot, useConsole } from "./support/harness.js";
import { createPetToolset, deployPetTools, publishTools } from "./support/seed.js";

// Signing in, where the key is kept, the projects of the key's organization and
// a project's toolsets with their mode and current release.

const { server, tenant, api, url, open, signIn } = useConsole();

beforeAll(async () => {
  await createProject(server.db, { org: tenant.org, slug: "mobile", name: "Mobile app" });
  await createProject(server.db, { org: tenant.org, slug: "internal", name: "Internal tools" });
  await deployPetTools(api);
  await createPetToolset(api, { slug: "pets", name: "Pet store", tools: ["list_pets", "get_pet"], staging: true });
  await publishTools(api, "pets", ["list_pets", "get_pet", "create_pet"], "adds create_pet");
  await publishTools(api, "pets", ["list_pets", "get_pet", "create_pet", "delete_pet"], "adds delete_pet");
  await createPetToolset(api, { slug: "adoption", name: "Adoption desk", tools: ["create_pet"] });
});

describe("signing in", () => {
  it("takes the key once, keeps it in sessionStorage only, never in a URL, and lists the organization's projects", async () => {
    const page = await open();
    await page.goto(url("/"));
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await page.getByLabel("API key", { exact: true }).waitFor();
    await page.getByRole("button", { name: "Sign in", exact: true }).waitFor();
    await screenshot(page, "01-sign-in");

    await signIn(page, tenant.producerKey);
    await page.getByRole("heading", { name: "Projects" }).waitFor();
    for (const name of [tenant.project, "Mobile app", "Internal tools"]) {
      await page.getByRole("link", { name, exact: true }).waitFor();
    }
    const projectLinks = await page
      .locator("a[href]")
      .evaluateAll((links) =>
        links.map((a) => new URL((a as HTMLAnchorElement).href).pathname).filter((p) => /^\/console\/projects\/[^/]+\/?$/.test(p)),
      );
    expect(new Set(projectLinks)).toEqual(new Set([tenant.project, "mobile", "internal"].map((p) => `/console/projects/${p}`)));
    await screenshot(page, "02-projects");

    // sessionStorage holds it; localStorage and cookies hold nothing.
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    const session = await page.evaluate(() => Object.values(sessionStorage));
    expect(session.some((value) => value.includes(tenant.producerKey))).toBe(true);
    expect(await page.context().cookies()).toEqual([]);

    // Kept for the browser session: a reload stays signed in.
    await page.reload();
    await page.getByRole("heading", { name: "Projects" }).waitFor();
    expect(await page.getByRole("heading", { name: "Sign in" }).count()).toBe(0);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    // (The harness checks every URL the page requested or went to for the key.)
  });

  it("asks again in a new browser session", async () => {
    const page = await open();
    await page.goto(url(`/projects/${tenant.project}`));
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    expect(await page.getByRole("heading", { name: "Toolsets" }).count()).toBe(0);
  });
});

describe("toolsets", () => {
  it("a project's link leads to its toolsets, each with its mode and current release", async () => {
    const page = await open();
    await signIn(page, tenant.producerKey);
    await page.getByRole("link", { name: tenant.project, exact: true }).click();
    await page.waitForURL(url(`/projects/${tenant.project}`));
    await page.getByRole("heading", { name: "Toolsets" }).waitFor();

    const staged = page.getByRole("row").filter({ has: page.getByRole("link", { name: "Pet store", exact: true }) });
    const iterating = page.getByRole("row").filter({ has: page.getByRole("link", { name: "Adoption desk", exact: true }) });
    await staged.getByRole("cell", { name: "Staging", exact: true }).waitFor();
    await staged.getByRole("cell", { name: "Release 3", exact: true }).waitFor();
    await iterating.getByRole("cell", { name: "Iteration", exact: true }).waitFor();
    await iterating.getByRole("cell", { name: "—", exact: true }).waitFor();
    await screenshot(page, "03-toolsets");

    await staged.getByRole("link", { name: "Pet store", exact: true }).click();
    await page.waitForURL(url(`/projects/${tenant.project}/toolsets/pets`));
    await page.getByRole("heading", { level: 1, name: "Pet store" }).waitFor();
  });

  it("a project's toolsets open from their direct URL", async () => {
    const page = await open();
    await signIn(page, tenant.producerKey, `/projects/${tenant.project}`);
    await page.getByRole("heading", { name: "Toolsets" }).waitFor();
    await page.getByRole("link", { name: "Adoption desk", exact: true }).waitFor();
    await page.getByRole("link", { name: "Pet store", exact: true }).waitFor();
  });
});
