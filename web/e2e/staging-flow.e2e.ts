import type { Page } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import { PublishStagingVersionRequestSchema } from "../../gen/releases/v1/releases_pb.js";
import { EditingMode } from "../../gen/toolsets/v1/toolsets_pb.js";
import { expectEndpoint, recordCalls } from "./support/endpoints.js";
import { eventually, screenshot, urn, useConsole } from "./support/harness.js";
import { createPetToolset, deployPetTools, openTab, releaseOrder, releaseRow, toolsetPath, view, type PetTool } from "./support/seed.js";

// The seed's staging flow in the browser (issue 12, scenario a): switch to
// staging → view the staging copy → edit it (description, tool selection) →
// "What changed" shows the diff, breaking first → publish with notes → the live
// view serves the change → the release is listed. Every step is checked against
// the server through the other client too.

const { tenant, api, open, signIn } = useConsole();
const SLUG = "pets";

beforeAll(async () => {
  await deployPetTools(api);
  await createPetToolset(api, { slug: SLUG, name: "Pet store", description: "Pets for sale", tools: ["list_pets", "get_pet", "create_pet"] });
});

/** The tool names shown (visible) on the page, of those asked about. */
async function shownTools(page: Page, names: readonly PetTool[]): Promise<PetTool[]> {
  const shown: PetTool[] = [];
  for (const name of names) if ((await page.getByText(name, { exact: true }).filter({ visible: true }).count()) > 0) shown.push(name);
  return shown;
}

const ALL: readonly PetTool[] = ["list_pets", "get_pet", "create_pet", "delete_pet"];

describe("the staging flow", () => {
  it("switch → edit staging → see the diff → publish → live shows the change → release listed", { timeout: 120_000 }, async () => {
    const page = await open();
    const publishCalls = recordCalls(page, "PublishStagingVersion", PublishStagingVersionRequestSchema);
    const mcp = `/mcp/${tenant.org}/${tenant.project}/pets`;
    await signIn(page, tenant.producerKey, toolsetPath(tenant.project, SLUG));

    // Iteration mode: the live tools, no View toggle, no release endpoints.
    await page.getByRole("heading", { level: 1, name: "Pet store" }).waitFor();
    await page.getByRole("tab", { name: "Overview", exact: true, selected: true }).waitFor();
    await page.getByText("create_pet", { exact: true }).first().waitFor();
    expect(await shownTools(page, ALL)).toEqual(["list_pets", "get_pet", "create_pet"]);
    expect(await page.getByRole("radiogroup", { name: "View" }).count()).toBe(0);
    await screenshot(page, "04-toolset-iteration");

    // Switch: release 1 is the live state; the page turns to staging mode.
    await page.getByRole("button", { name: "Switch to staging mode", exact: true }).click();
    await page.getByRole("button", { name: "Switch to iteration mode", exact: true }).waitFor();
    await page.getByRole("radiogroup", { name: "View" }).waitFor();
    const switched = await api.live(SLUG);
    expect(switched.editingMode).toBe(EditingMode.STAGING);
    expect(switched.currentReleaseNumber).toBe(1n);

    // The MCP endpoints of live, staging and release 1, each with its copy button.
    await page.getByRole("heading", { name: "MCP endpoints" }).waitFor();
    await expectEndpoint(page, "Live", mcp);
    await expectEndpoint(page, "Staging", `${mcp}/staging`);
    await expectEndpoint(page, "Release 1", `${mcp}/releases/1`);
    await screenshot(page, "04-toolset-overview");

    // View the staging copy: the banner says so.
    await view(page, "Staging");
    await page.getByText("You are viewing the staging copy").waitFor();
    await screenshot(page, "05-overview-staging");

    // Edit it: description, one tool out, one in.
    await openTab(page, "Edit");
    const description = page.getByRole("textbox", { name: "Description", exact: true });
    await eventually(() => description.inputValue()).toBe("Pets for sale");
    expect(await page.getByRole("textbox", { name: "Name", exact: true }).inputValue()).toBe("Pet store");
    expect(await page.getByRole("textbox", { name: "MCP slug", exact: true }).inputValue()).toBe("pets");
    expect(await page.getByRole("checkbox", { name: "MCP endpoint enabled", exact: true }).isChecked()).toBe(true);
    expect(await page.getByRole("checkbox", { name: "Public endpoint", exact: true }).isChecked()).toBe(false);
    const tools = page.getByRole("group", { name: "Tools", exact: true });
    const checked: string[] = [];
    for (const name of ALL) if (await tools.getByRole("checkbox", { name, exact: true }).isChecked()) checked.push(name);
    expect(checked).toEqual(["list_pets", "get_pet", "create_pet"]);

    await description.fill("Pets for sale and for adoption");
    await tools.getByRole("checkbox", { name: "get_pet", exact: true }).uncheck();
    await tools.getByRole("checkbox", { name: "delete_pet", exact: true }).check();
    await screenshot(page, "05-edit-staging");
    await page.getByRole("button", { name: "Save changes", exact: true }).click();
    await page.getByRole("status").filter({ hasText: "Saved" }).waitFor();
    const copy = await api.stagingCopy(SLUG);
    expect(copy.description).toBe("Pets for sale and for adoption");
    expect([...copy.toolUrns].sort()).toEqual(["list_pets", "create_pet", "delete_pet"].map(urn).sort());
    expect((await api.live(SLUG)).description).toBe("Pets for sale");

    // What changed: staging against live, the breaking change first and marked.
    await openTab(page, "Changes");
    await page.getByRole("heading", { name: "What changed" }).waitFor();
    const changes = changeList(page);
    await eventually(() => changes.getByRole("listitem").count()).toBe(3);
    const items = await changes.getByRole("listitem").allTextContents();
    expect(items[0]).toContain("get_pet");
    expect(items[0]).toMatch(/\bBreaking\b/);
    const rest = items.slice(1);
    expect(rest.some((t) => t.includes("delete_pet"))).toBe(true);
    expect(rest.some((t) => /description/i.test(t))).toBe(true);
    for (const t of rest) expect(t).not.toMatch(/\bBreaking\b/);
    await screenshot(page, "06-changes");

    // Publish with notes: the dialog shows the same changes.
    await page.getByRole("button", { name: /^Publish(…|\.\.\.)$/ }).click();
    const dialog = page.getByRole("dialog", { name: "Publish staging" });
    await dialog.waitFor();
    await dialog.getByRole("textbox", { name: "Release notes" }).fill("Adoption: delete_pet in, get_pet out");
    for (const text of ["get_pet", "delete_pet", "Breaking"]) await dialog.getByText(text).first().waitFor();
    await screenshot(page, "07-publish-dialog");
    await dialog.getByRole("button", { name: "Publish release", exact: true }).click();
    await dialog.waitFor({ state: "hidden" });
    await page.getByRole("status").filter({ hasText: "Published release 2" }).waitFor();
    expect((await api.live(SLUG)).currentReleaseNumber).toBe(2n);
    expect(publishCalls).toHaveLength(1);
    expect(publishCalls[0]?.idempotencyKey, "the publish attempt's idempotency key").not.toBe("");

    // The live view serves the change.
    await view(page, "Live");
    await page.getByText("You are viewing the staging copy").waitFor({ state: "hidden" });
    await openTab(page, "Overview");
    await page.getByText("delete_pet", { exact: true }).first().waitFor();
    await eventually(() => shownTools(page, ALL)).toEqual(["list_pets", "create_pet", "delete_pet"]);
    expect((await api.resolve(SLUG)).tools.map((t) => t.name).sort()).toEqual(["create_pet", "delete_pet", "list_pets"]);

    // The release is listed, newest first, current, with its notes and publisher.
    await openTab(page, "Releases");
    await releaseRow(page, 2).waitFor();
    expect(await releaseOrder(page)).toEqual(["Release 2", "Release 1"]);
    const release = await api.getRelease(SLUG, 2n);
    const newest = (await releaseRow(page, 2).textContent()) ?? "";
    expect(newest).toContain("Current");
    expect(newest).toContain("Adoption: delete_pet in, get_pet out");
    expect(newest).toContain(release.releasedBy);
    expect(await releaseRow(page, 1).textContent()).not.toContain("Current");
    await releaseRow(page, 1).getByRole("button", { name: "Roll back to release 1", exact: true }).waitFor();
    await screenshot(page, "08-releases");
  });

  it("with nothing to publish, the publish dialog says so in words", async () => {
    await createPetToolset(api, { slug: "quiet", name: "Quiet pets", tools: ["list_pets"], staging: true });
    const page = await open();
    await signIn(page, tenant.producerKey, toolsetPath(tenant.project, "quiet"));
    await page.getByRole("heading", { level: 1, name: "Quiet pets" }).waitFor();
    await view(page, "Staging");
    await openTab(page, "Changes");
    await page.getByText(/No differences/).waitFor();
    await page.getByRole("button", { name: "Publish…", exact: true }).click();
    const dialog = page.getByRole("dialog", { name: "Publish staging" });
    await dialog.waitFor();
    await dialog.getByRole("button", { name: "Publish release", exact: true }).click();
    const alert = dialog.getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/nothing to publish/i);
    expect(await dialog.textContent()).not.toMatch(/FAILED_PRECONDITION|NOTHING_TO_PUBLISH|failed[_ ]precondition/i);
    await screenshot(page, "07-publish-nothing");
    expect((await api.live("quiet")).currentReleaseNumber).toBe(1n);
  });

  it("a publish whose answer was lost is retried with the same idempotency key and publishes once", async () => {
    await createPetToolset(api, { slug: "retry", name: "Retry pets", tools: ["list_pets"], staging: true });
    await api.editStaging("retry", { description: "to be published once" });
    const page = await open();
    const calls = recordCalls(page, "PublishStagingVersion", PublishStagingVersionRequestSchema);
    // The first publish reaches the service, but its answer never reaches the page.
    let lose = true;
    await page.route("**/releases.v1.ReleaseService/PublishStagingVersion", async (route) => {
      if (!lose) return route.continue();
      lose = false;
      await route.fetch();
      await route.abort("connectionreset");
    });
    await signIn(page, tenant.producerKey, `${toolsetPath(tenant.project, "retry")}/changes?view=staging`);
    await page.getByRole("heading", { name: "What changed" }).waitFor();
    await page.getByRole("button", { name: "Publish…", exact: true }).click();
    const dialog = page.getByRole("dialog", { name: "Publish staging" });
    await dialog.getByRole("button", { name: "Publish release", exact: true }).click();
    await dialog.getByRole("alert").waitFor();
    expect((await api.live("retry")).currentReleaseNumber).toBe(2n);

    // Pressed again in the same dialog: the same attempt, so the same release.
    await dialog.getByRole("button", { name: "Publish release", exact: true }).click();
    await dialog.waitFor({ state: "hidden" });
    await page.getByRole("status").filter({ hasText: "Published release 2" }).waitFor();
    expect(calls).toHaveLength(2);
    expect(calls[0]!.idempotencyKey).not.toBe("");
    expect(calls[1]!.idempotencyKey).toBe(calls[0]!.idempotencyKey);
    expect((await api.live("retry")).currentReleaseNumber).toBe(2n);
    expect((await api.listReleases("retry")).releases.map((r) => r.releaseNumber)).toEqual([2n, 1n]);

    // A new opening is a new attempt.
    await api.editStaging("retry", { description: "a second change" });
    await page.getByRole("button", { name: "Publish…", exact: true }).click();
    await dialog.getByRole("button", { name: "Publish release", exact: true }).click();
    await page.getByRole("status").filter({ hasText: "Published release 3" }).waitFor();
    expect(calls).toHaveLength(3);
    expect(calls[2]!.idempotencyKey).not.toBe(calls[0]!.idempotencyKey);
  });
});

/** The list under "What changed": the innermost list holding an item that names get_pet. */
function changeList(page: Page) {
  return page
    .getByRole("list")
    .filter({ has: page.getByRole("listitem").filter({ hasText: "get_pet" }) })
    .filter({ visible: true })
    .last();
}
