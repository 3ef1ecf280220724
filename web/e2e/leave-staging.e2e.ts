import { beforeAll, describe, expect, it } from "vitest";
import { EditingMode } from "../../gen/toolsets/v1/toolsets_pb.js";
import { eventually, screenshot, useConsole } from "./support/harness.js";
import { createPetToolset, deployPetTools, toolsetPath } from "./support/seed.js";

// Leaving staging mode asks first; with unpublished changes the refusal says
// so in words, and only an explicit "discard" goes through (DESIGN §2).

const { tenant, api, open, signIn } = useConsole();

beforeAll(async () => {
  await deployPetTools(api);
  await createPetToolset(api, { slug: "pets", name: "Pet store", tools: ["list_pets"], staging: true });
  await api.editStaging("pets", { description: "an edit nobody published" });
});

describe("switching back to iteration mode", () => {
  it("is confirmed, refused in words while the staging copy has unpublished changes, and done once they may be discarded", async () => {
    const page = await open();
    await signIn(page, tenant.producerKey, toolsetPath(tenant.project, "pets"));
    await page.getByRole("heading", { level: 1, name: "Pet store" }).waitFor();
    await page.getByRole("button", { name: "Switch to iteration mode", exact: true }).click();
    const dialog = page.getByRole("dialog", { name: "Switch to iteration mode" });
    await dialog.waitFor();
    await dialog.getByRole("button", { name: "Switch", exact: true }).click();

    const alert = dialog.getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/never published/);
    expect(await alert.textContent()).not.toMatch(/FAILED_PRECONDITION|UNPUBLISHED_CHANGES/);
    expect((await api.live("pets")).editingMode).toBe(EditingMode.STAGING);
    await screenshot(page, "17-leave-staging-refused");

    await dialog.getByRole("checkbox", { name: "Discard unpublished changes of the staging copy", exact: true }).check();
    await dialog.getByRole("button", { name: "Switch", exact: true }).click();
    await page.getByRole("button", { name: "Switch to staging mode", exact: true }).waitFor();
    await eventually(async () => (await api.live("pets")).editingMode).toBe(EditingMode.ITERATION);
    expect(await page.getByRole("radiogroup", { name: "View" }).count()).toBe(0);
  });
  it("discarding the staging copy asks first; a new one is created from the current release", async () => {
    await createPetToolset(api, { slug: "drafts", name: "Draft pets", tools: ["list_pets"], staging: true });
    await api.editStaging("drafts", { description: "a draft to throw away" });
    const page = await open();
    await signIn(page, tenant.producerKey, `${toolsetPath(tenant.project, "drafts")}/edit?view=staging`);
    const description = page.getByRole("textbox", { name: "Description", exact: true });
    await eventually(() => description.inputValue()).toBe("a draft to throw away");

    await page.getByRole("button", { name: "Discard staging copy…", exact: true }).click();
    const dialog = page.getByRole("dialog", { name: "Discard the staging copy" });
    await dialog.getByRole("button", { name: "Discard", exact: true }).click();
    await page.getByRole("button", { name: "Create staging copy", exact: true }).click();
    // The new copy starts from release 1: the draft is gone.
    await eventually(() => description.inputValue()).toBe("Draft pets, for the end-to-end tests");
    expect((await api.stagingCopy("drafts")).description).toBe("Draft pets, for the end-to-end tests");
    expect((await api.live("drafts")).currentReleaseNumber).toBe(1n);
  });
});
