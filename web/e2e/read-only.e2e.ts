import type { Locator, Page } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import { eventually, screenshot, useConsole } from "./support/harness.js";
import { createPetToolset, deployPetTools, openTab, publishTools, releaseRow, toolsetPath, view } from "./support/seed.js";

// A consumer key sees the same screens, read-only (issue 12, scenario e): the
// notice says so and no control that would write is there enabled.

const { tenant, api, open, signIn } = useConsole();

beforeAll(async () => {
  await deployPetTools(api);
  await createPetToolset(api, { slug: "pets", name: "Pet store", tools: ["list_pets", "get_pet"], staging: true });
  await publishTools(api, "pets", ["list_pets", "get_pet", "create_pet"], "adds create_pet");
  await api.editStaging("pets", { description: "unpublished edit" });
  await createPetToolset(api, { slug: "adoption", name: "Adoption desk", tools: ["create_pet"] });
});

/** Fails when any control `locator` finds is enabled (none at all is fine). */
async function expectNoneEnabled(locator: Locator, what: string): Promise<void> {
  for (const control of await locator.all()) expect(await control.isEnabled(), `an enabled "${what}"`).toBe(false);
}

/** The write controls of the toolset page: none may be enabled for a consumer. */
async function expectNoWriteControls(page: Page): Promise<void> {
  await expectNoneEnabled(page.getByRole("button", { name: /^Switch to (staging|iteration) mode$/ }), "Switch to … mode");
  await expectNoneEnabled(page.getByRole("button", { name: "Save changes", exact: true }), "Save changes");
  await expectNoneEnabled(page.getByRole("button", { name: "Save variation", exact: true }), "Save variation");
  await expectNoneEnabled(page.getByRole("button", { name: /^Publish(…|\.\.\.)$/ }), "Publish…");
  await expectNoneEnabled(page.getByRole("button", { name: /^Roll back to release \d+$/ }), "Roll back to release N");
}

describe("a consumer key", () => {
  it("sees projects, toolsets and every tab of a toolset, read-only", async () => {
    const page = await open();
    await signIn(page, tenant.consumerKey);
    // The organization has one project: the console opens it at once.
    await page.getByRole("heading", { name: "Toolsets" }).waitFor();
    expect(new URL(page.url()).pathname).toBe(`/console/projects/${tenant.project}`);
    await page.getByRole("link", { name: "Adoption desk", exact: true }).waitFor();
    await page.getByRole("link", { name: "Pet store", exact: true }).click();

    await page.getByRole("heading", { level: 1, name: "Pet store" }).waitFor();
    await page.getByText("Read-only").first().waitFor();
    await page.getByText("list_pets", { exact: true }).first().waitFor();
    await page.getByRole("heading", { name: "MCP endpoints" }).waitFor();
    await expectNoWriteControls(page);
    await screenshot(page, "14-read-only");

    // The staging copy may be viewed.
    await view(page, "Staging");
    await page.getByText("You are viewing the staging copy").waitFor();

    for (const tab of ["Edit", "Changes", "Releases", "Events"] as const) {
      await openTab(page, tab);
      if (tab === "Edit") {
        // The staging copy's form is there, filled in, and cannot be changed.
        const name = page.getByRole("textbox", { name: "Name", exact: true });
        await eventually(() => name.inputValue()).toBe("Pet store");
        expect(await name.isDisabled()).toBe(true);
        expect(await page.getByRole("checkbox", { name: "list_pets", exact: true }).isDisabled()).toBe(true);
        expect(await page.getByRole("textbox", { name: "Name override", exact: true }).isDisabled()).toBe(true);
      }
      if (tab === "Changes") await page.getByRole("heading", { name: "What changed" }).waitFor();
      if (tab === "Releases") await releaseRow(page, 2).getByText("Current").waitFor();
      if (tab === "Events") await page.getByRole("row").filter({ hasText: "Published" }).first().waitFor();
      await page.getByText("Read-only").first().waitFor();
      await expectNoWriteControls(page);
    }

    // The iteration-mode toolset: no enabled switch either.
    await page.goto(page.url().replace(/\/toolsets\/pets.*$/, "/toolsets/adoption"));
    await page.getByRole("heading", { level: 1, name: "Adoption desk" }).waitFor();
    await page.getByText("create_pet", { exact: true }).first().waitFor();
    await page.getByText("Read-only").first().waitFor();
    await expectNoWriteControls(page);
  });

  it("opens a release's details", async () => {
    const page = await open();
    await signIn(page, tenant.consumerKey, `${toolsetPath(tenant.project, "pets")}/releases/2`);
    await page.getByRole("heading", { name: "Release 2", exact: true }).waitFor();
    await page
      .getByText((await api.getRelease("pets", 2n)).etag)
      .first()
      .waitFor();
  });
});
