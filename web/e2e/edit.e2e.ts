import type { Page } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import { Target } from "../../gen/releases/v1/releases_pb.js";
import { eventually, screenshot, urn, useConsole } from "./support/harness.js";
import { createPetToolset, deployPetTools, openTab, toolsetPath, view } from "./support/seed.js";

// Editing (issue 12, scenario d and the rest of the Edit tab): a validation
// error from the server shows next to its field; MCP settings of a toolset in
// iteration mode; a variation of the staging copy.

const { tenant, api, open, signIn } = useConsole();

beforeAll(async () => {
  await deployPetTools(api);
  await createPetToolset(api, { slug: "pets", name: "Pet store", tools: ["list_pets", "get_pet"], mcpSlug: "pets" });
  await createPetToolset(api, { slug: "staged", name: "Staged pets", tools: ["list_pets", "get_pet"], staging: true });
});

/** The text of the elements an input's aria-describedby names. */
async function description(page: Page, label: string): Promise<string> {
  const input = page.getByRole("textbox", { name: label, exact: true });
  const ids = ((await input.getAttribute("aria-describedby")) ?? "").split(/\s+/).filter(Boolean);
  const texts = await Promise.all(ids.map((id) => page.locator(`[id="${id}"]`).textContent()));
  return texts.join(" ");
}

describe("the Edit tab", () => {
  it("shows the server's validation error next to its field, and saves once it is fixed (iteration mode: the live toolset)", async () => {
    const page = await open();
    await signIn(page, tenant.producerKey, toolsetPath(tenant.project, "pets"));
    await page.getByRole("heading", { level: 1, name: "Pet store" }).waitFor();
    await openTab(page, "Edit");
    const slug = page.getByRole("textbox", { name: "MCP slug", exact: true });
    await eventually(() => slug.inputValue()).toBe("pets");

    await slug.fill("Bad Slug!");
    await page.getByRole("button", { name: "Save changes", exact: true }).click();
    await eventually(() => slug.getAttribute("aria-invalid")).toBe("true");
    const rule = await description(page, "MCP slug");
    expect(rule).toMatch(/lowercase|a-z/i);
    expect(rule).not.toMatch(/INVALID_ARGUMENT|invalid[_ ]argument/i);
    expect(await page.getByRole("textbox", { name: "Name", exact: true }).getAttribute("aria-invalid")).not.toBe("true");
    expect(await page.getByRole("status").filter({ hasText: "Saved" }).count()).toBe(0);
    expect((await api.live("pets")).mcpSlug).toBe("pets");
    await screenshot(page, "13-validation-error");

    // Fixed, with the endpoint made public: saved, the error gone.
    await slug.fill("pets-v2");
    const isPublic = page.getByRole("checkbox", { name: "Public endpoint", exact: true });
    expect(await isPublic.isChecked()).toBe(false);
    await isPublic.check();
    await page.getByRole("button", { name: "Save changes", exact: true }).click();
    await page.getByRole("status").filter({ hasText: "Saved" }).waitFor();
    expect(await slug.getAttribute("aria-invalid")).not.toBe("true");
    const live = await api.live("pets");
    expect(live.mcpSlug).toBe("pets-v2");
    expect(live.mcpIsPublic).toBe(true);
    expect(live.mcpEnabled).toBe(true);
  });

  it("saves a variation of the staging copy, which then shows as a breaking change", async () => {
    const page = await open();
    await signIn(page, tenant.producerKey, toolsetPath(tenant.project, "staged"));
    await page.getByRole("heading", { level: 1, name: "Staged pets" }).waitFor();
    await view(page, "Staging");
    await page.getByText("You are viewing the staging copy").waitFor();
    await openTab(page, "Edit");
    await page.getByRole("heading", { name: "Variations" }).waitFor();

    const tool = page.getByRole("combobox", { name: "Tool", exact: true });
    const options = await tool
      .locator("option")
      .evaluateAll((all) => all.map((o) => ({ value: (o as HTMLOptionElement).value, label: o.textContent ?? "" })));
    const listPets = options.find((o) => o.label.includes("list_pets") || o.value.includes("list_pets"));
    expect(listPets, `an option for list_pets among ${JSON.stringify(options)}`).toBeDefined();
    await tool.selectOption({ value: listPets!.value });
    await page.getByRole("textbox", { name: "Name override", exact: true }).fill("find_pets");
    await page.getByRole("textbox", { name: "Description override", exact: true }).fill("Finds pets by kind");
    await page.getByRole("textbox", { name: "Title override", exact: true }).fill("Find pets");
    await page.getByRole("combobox", { name: "Require confirmation", exact: true }).selectOption({ label: "Yes: ask before each call" });
    await page.getByRole("textbox", { name: "Confirmation prompt", exact: true }).fill("List every pet?");
    await screenshot(page, "05-edit-variation");
    await page.getByRole("button", { name: "Save variation", exact: true }).click();

    await eventually(async () => (await api.listVariations({ toolsetSlug: "staged", staging: true })).length).toBe(1);
    const [variation] = await api.listVariations({ toolsetSlug: "staged", staging: true });
    expect(variation).toMatchObject({
      srcToolUrn: urn("list_pets"),
      name: "find_pets",
      description: "Finds pets by kind",
      title: "Find pets",
      confirm: true,
      confirmPrompt: "List every pet?",
    });
    // Staging only: live still serves list_pets.
    expect((await api.resolve("staged")).tools.map((t) => t.name)).toContain("list_pets");
    expect((await api.resolve("staged", Target.STAGING)).tools.map((t) => t.name)).toContain("find_pets");

    await openTab(page, "Changes");
    await page.getByRole("heading", { name: "What changed" }).waitFor();
    const renamed = page.getByRole("listitem").filter({ hasText: "find_pets" }).filter({ visible: true }).first();
    await renamed.waitFor();
    expect(await renamed.textContent()).toMatch(/\bBreaking\b/);

    // "No" overrides (a global `confirm` would otherwise be inherited); "Inherit" leaves it unset.
    await openTab(page, "Edit");
    const confirm = page.getByRole("combobox", { name: "Require confirmation", exact: true });
    await eventually(() => confirm.inputValue()).toBe("yes");
    await confirm.selectOption({ label: "No" });
    await page.getByRole("button", { name: "Save variation", exact: true }).click();
    await eventually(async () => (await api.listVariations({ toolsetSlug: "staged", staging: true }))[0]?.confirm).toBe(false);
    await eventually(() => confirm.inputValue()).toBe("no");
    await confirm.selectOption({ value: "" });
    await page.getByRole("button", { name: "Save variation", exact: true }).click();
    await eventually(async () => (await api.listVariations({ toolsetSlug: "staged", staging: true }))[0]?.confirm).toBeUndefined();
  });

  it("a save after someone else's is refused in words, keeps the user's edit, shows theirs, and then applies only the user's field", async () => {
    await createPetToolset(api, { slug: "shared", name: "Shared pets", tools: ["list_pets"] });
    const page = await open();
    await signIn(page, tenant.producerKey, `${toolsetPath(tenant.project, "shared")}/edit`);
    const description = page.getByRole("textbox", { name: "Description", exact: true });
    await eventually(() => description.inputValue()).toBe("Shared pets, for the end-to-end tests");
    await description.fill("described in the browser");

    // Meanwhile another producer renames the toolset.
    await api.editLive("shared", { name: "Renamed elsewhere" });
    await page.getByRole("button", { name: "Save changes", exact: true }).click();
    const alert = page.getByRole("alert").filter({ hasText: /Someone else changed this toolset/ });
    await alert.waitFor();
    expect(await alert.textContent()).not.toMatch(/ABORTED|VERSION_CONFLICT/);
    // Their name shows; the user's description stays.
    const name = page.getByRole("textbox", { name: "Name", exact: true });
    await eventually(() => name.inputValue()).toBe("Renamed elsewhere");
    expect(await description.inputValue()).toBe("described in the browser");

    await page.getByRole("button", { name: "Save changes", exact: true }).click();
    await page.getByRole("status").filter({ hasText: "Saved" }).waitFor();
    const live = await api.live("shared");
    expect(live.name).toBe("Renamed elsewhere");
    expect(live.description).toBe("described in the browser");
  });
});
