import { beforeAll, describe, expect, it } from "vitest";
import { eventually, screenshot, urn, useConsole } from "./support/harness.js";
import { deployPetTools, openTab, toolsetPath } from "./support/seed.js";

// A toolset made from the console: "New toolset…" on the toolsets screen, a
// refused empty name next to its field, then tools chosen on the Edit tab.

const { tenant, api, open, signIn } = useConsole();

beforeAll(async () => {
  await deployPetTools(api);
  await api.upsertPrompt("find_pet", "Find a pet tagged {{tag}}.", { description: "Find a pet by tag" });
});

describe("a new toolset", () => {
  it("is created from the toolsets screen and gets its tools on the Edit tab", async () => {
    const page = await open();
    await signIn(page, tenant.producerKey, `/projects/${tenant.project}`);
    await page.getByRole("heading", { name: "Toolsets" }).waitFor();
    await page.getByRole("button", { name: "New toolset…", exact: true }).click();
    const dialog = page.getByRole("dialog", { name: "New toolset" });
    await dialog.waitFor();

    // Nothing typed: the server's rule shows next to Name.
    await dialog.getByRole("button", { name: "Create toolset", exact: true }).click();
    const name = dialog.getByRole("textbox", { name: "Name", exact: true });
    await eventually(() => name.getAttribute("aria-invalid")).toBe("true");

    await name.fill("Adoption desk");
    await dialog.getByRole("button", { name: "Create toolset", exact: true }).click();
    await page.getByRole("heading", { level: 1, name: "Adoption desk" }).waitFor();
    expect(new URL(page.url()).pathname).toBe(`/console${toolsetPath(tenant.project, "adoption-desk")}/edit`);

    await page.getByRole("checkbox", { name: "create_pet", exact: true }).check();
    await page.getByRole("group", { name: "Prompts" }).getByRole("checkbox", { name: "find_pet", exact: true }).check();
    await page.getByRole("button", { name: "Save changes", exact: true }).click();
    await page.getByRole("status").filter({ hasText: "Saved" }).waitFor();
    await eventually(async () => (await api.live("adoption-desk")).toolUrns).toEqual([urn("create_pet")]);
    expect((await api.live("adoption-desk")).promptTemplateNames).toEqual(["find_pet"]);
    await openTab(page, "Overview");
    await page.getByText("create_pet", { exact: true }).first().waitFor();
    await page.getByText("find_pet", { exact: true }).first().waitFor();
    await screenshot(page, "16-new-toolset");
  });
});
