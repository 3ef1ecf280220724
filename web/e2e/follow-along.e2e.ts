import type { Page } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import { eventually, expectNoReload, markDocument, screenshot, useConsole, WAIT_MS } from "./support/harness.js";
import { createPetToolset, deployPetTools, openTab, publishTools, releaseOrder, releaseRow, toolsetPath } from "./support/seed.js";

// The console follows WatchToolset (issue 12, scenario c): a publish or a
// rollback made by another client shows on an open toolset page without a
// reload. Each change is made only once the page's watch is open, so it can
// only arrive through the watch.

const { tenant, api, open, signIn } = useConsole();
const SLUG = "pets";

beforeAll(async () => {
  await deployPetTools(api);
  await createPetToolset(api, { slug: SLUG, name: "Pet store", tools: ["list_pets", "get_pet"], staging: true });
});

/** Resolves once `page` has a WatchToolset call open (its response headers came). */
function watchOpened(page: Page): Promise<void> {
  return page
    .waitForResponse((response) => new URL(response.url()).pathname.endsWith("/WatchToolset") && response.ok(), { timeout: WAIT_MS })
    .then(() => undefined);
}

describe("following the toolset", () => {
  it("a publish and a rollback by another client show on the Releases tab and the live tool list, without a reload", async () => {
    const page = await open();
    const watching = watchOpened(page);
    await signIn(page, tenant.producerKey, toolsetPath(tenant.project, SLUG));
    await page.getByRole("heading", { level: 1, name: "Pet store" }).waitFor();
    await openTab(page, "Releases");
    await releaseRow(page, 1).getByText("Current").waitFor();
    await watching;
    const mark = await markDocument(page);

    // Publish elsewhere: a new row, current.
    expect(await publishTools(api, SLUG, ["list_pets", "get_pet", "create_pet"], "published elsewhere")).toBe(2n);
    await releaseRow(page, 2).getByText("Current").waitFor();
    expect(await releaseOrder(page)).toEqual(["Release 2", "Release 1"]);
    expect(await releaseRow(page, 1).textContent()).not.toContain("Current");
    await screenshot(page, "12-follow-publish");

    // Rollback elsewhere: "Current" moves back.
    await api.rollback(SLUG, 1n, "rolled back elsewhere");
    await releaseRow(page, 1).getByText("Current").waitFor();
    await eventually(async () => (await releaseRow(page, 2).textContent()) ?? "").not.toContain("Current");

    // The live tool list on the Overview tab follows a publish too.
    await openTab(page, "Overview");
    await page.getByText("get_pet", { exact: true }).first().waitFor();
    expect(await page.getByText("delete_pet", { exact: true }).filter({ visible: true }).count()).toBe(0);
    expect(await publishTools(api, SLUG, ["list_pets", "delete_pet"], "swaps get_pet for delete_pet")).toBe(3n);
    await page.getByText("delete_pet", { exact: true }).first().waitFor();
    await eventually(() => page.getByText("get_pet", { exact: true }).filter({ visible: true }).count()).toBe(0);

    await expectNoReload(page, mark);
  });
});
