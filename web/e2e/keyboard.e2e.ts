import type { Page } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import { useConsole } from "./support/harness.js";
import { createPetToolset, deployPetTools, toolsetPath } from "./support/seed.js";

// Keyboard and labels (issue 12): the tabs follow the WAI-ARIA tabs pattern,
// dialogs open from the keyboard, trap focus and close on Escape, and no form
// control on the main screens lacks an accessible name.

const { tenant, api, open, signIn } = useConsole();

beforeAll(async () => {
  await deployPetTools(api);
  await createPetToolset(api, { slug: "pets", name: "Pet store", tools: ["list_pets", "get_pet"], staging: true });
  await api.editStaging("pets", { description: "staged" });
});

/** Form controls on the page without an accessible name (label, aria-label or aria-labelledby). */
async function unlabelled(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll("input, select, textarea, button")]
      .filter((el) => {
        const e = el as HTMLInputElement;
        if (e.type === "hidden") return false;
        const labelled = (e.labels?.length ?? 0) > 0 || e.getAttribute("aria-label") || e.getAttribute("aria-labelledby");
        return !labelled && (el.tagName !== "BUTTON" || (el.textContent ?? "").trim() === "");
      })
      .map((el) => el.outerHTML.slice(0, 120)),
  );
}

const focusedName = (page: Page) => page.evaluate(() => document.activeElement?.textContent?.trim() ?? "");

describe("the keyboard", () => {
  it("moves between tabs with the arrow keys, opens and closes a dialog, and finds every control labelled", async () => {
    const page = await open();
    await signIn(page, tenant.producerKey, toolsetPath(tenant.project, "pets"));
    await page.getByRole("heading", { level: 1, name: "Pet store" }).waitFor();

    await page.getByRole("tab", { name: "Overview", exact: true }).focus();
    await page.keyboard.press("ArrowRight");
    await page.getByRole("tab", { name: "Edit", exact: true, selected: true }).waitFor();
    expect(await focusedName(page)).toBe("Edit");
    await page.keyboard.press("End");
    await page.getByRole("tab", { name: "Events", exact: true, selected: true }).waitFor();
    await page.keyboard.press("ArrowRight"); // wraps around
    await page.getByRole("tab", { name: "Overview", exact: true, selected: true }).waitFor();
    expect(await unlabelled(page)).toEqual([]);

    await page.getByRole("radio", { name: "Staging", exact: true }).check();
    for (const tab of ["Edit", "Changes"]) {
      await page.getByRole("tab", { name: tab, exact: true }).click();
      await page.getByRole("tab", { name: tab, exact: true, selected: true }).waitFor();
      await page.getByRole("tabpanel").getByRole("heading").first().waitFor();
      expect(await unlabelled(page), `unlabelled controls on ${tab}`).toEqual([]);
    }

    const publish = page.getByRole("button", { name: "Publish…", exact: true });
    await publish.focus();
    await page.keyboard.press("Enter");
    const dialog = page.getByRole("dialog", { name: "Publish staging" });
    await dialog.waitFor();
    // Focus starts inside the dialog, and Tab never reaches the page behind it
    // (past the last control it may rest on the browser's own UI: the body).
    const where = () =>
      page.evaluate(() => (document.activeElement?.closest("dialog") ? "dialog" : document.activeElement === document.body ? "body" : "page"));
    expect(await where()).toBe("dialog");
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press("Tab");
      seen.add(await where());
    }
    expect(seen.has("page")).toBe(false);
    expect(seen.has("dialog")).toBe(true);
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    expect(await focusedName(page)).toBe("Publish…");
    expect((await api.live("pets")).currentReleaseNumber).toBe(1n);
  });
});
