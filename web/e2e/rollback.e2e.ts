import { beforeAll, describe, expect, it } from "vitest";
import { ReleaseEventKind } from "../../gen/releases/v1/releases_pb.js";
import { screenshot, useConsole } from "./support/harness.js";
import { createPetToolset, deployPetTools, openTab, publishTools, releaseOrder, releaseRow, toolsetPath } from "./support/seed.js";

// Rollback with its confirmation (issue 12, scenario b), release details and the
// event log. Releases 1–3 are made by the other client: 1 = list_pets, get_pet
// (the switch to staging); 2 adds create_pet; 3 adds delete_pet and changes the
// description. The browser rolls back from 3 to 1.

const { tenant, api, url, open, signIn } = useConsole();
const SLUG = "pets";
const page$ = () => toolsetPath(tenant.project, SLUG);

beforeAll(async () => {
  await deployPetTools(api);
  await createPetToolset(api, { slug: SLUG, name: "Pet store", tools: ["list_pets", "get_pet"], staging: true });
  await publishTools(api, SLUG, ["list_pets", "get_pet", "create_pet"], "adds create_pet");
  await publishTools(api, SLUG, ["list_pets", "get_pet", "create_pet", "delete_pet"], "adds delete_pet", "Pet store, version 3");
});

describe("release details", () => {
  it("a release's link opens its details: number, etag, notes, the tools it serves", async () => {
    const release = await api.getRelease(SLUG, 2n);
    const page = await open();
    await signIn(page, tenant.producerKey, page$());
    await page.getByRole("heading", { level: 1, name: "Pet store" }).waitFor();
    await openTab(page, "Releases");
    await releaseRow(page, 3).waitFor();
    await releaseRow(page, 2).getByRole("link", { name: "Release 2", exact: true }).click();
    await page.waitForURL(url(`${page$()}/releases/2`));
    await page.getByRole("heading", { name: "Release 2", exact: true }).waitFor();
    await page.getByText(release.etag).first().waitFor();
    await page.getByText("adds create_pet").first().waitFor();
    for (const tool of ["list_pets", "get_pet", "create_pet"]) await page.getByText(tool, { exact: true }).first().waitFor();
    expect(await page.getByText("delete_pet", { exact: true }).filter({ visible: true }).count()).toBe(0);
    await screenshot(page, "09-release-details");

    // The same page from its URL.
    const direct = await open();
    await signIn(direct, tenant.producerKey, `${page$()}/releases/3`);
    await direct.getByRole("heading", { name: "Release 3", exact: true }).waitFor();
    await direct
      .getByText((await api.getRelease(SLUG, 3n)).etag)
      .first()
      .waitFor();
    await direct.getByText("delete_pet", { exact: true }).first().waitFor();
  });
});

describe("rollback", () => {
  it("asks for confirmation naming both releases and the changes, then makes release 1 current", async () => {
    const page = await open();
    await signIn(page, tenant.producerKey, page$());
    await page.getByRole("heading", { level: 1, name: "Pet store" }).waitFor();
    await openTab(page, "Releases");
    await releaseRow(page, 3).waitFor();
    expect(await releaseOrder(page)).toEqual(["Release 3", "Release 2", "Release 1"]);
    expect(await releaseRow(page, 3).textContent()).toContain("Current");
    expect(
      await releaseRow(page, 3)
        .getByRole("button", { name: /^Roll back to release/ })
        .count(),
    ).toBe(0);

    await releaseRow(page, 1).getByRole("button", { name: "Roll back to release 1", exact: true }).click();
    const dialog = page.getByRole("dialog", { name: "Roll back to release 1" });
    await dialog.waitFor();
    // Both releases named, and what it changes: create_pet and delete_pet go (breaking), the description changes back.
    await dialog.getByText("create_pet").first().waitFor();
    const text = (await dialog.textContent()) ?? "";
    expect(text).toMatch(/release 3\b/i);
    expect(text).toMatch(/release 1\b/i);
    expect(text).toContain("delete_pet");
    expect(text).toMatch(/\bBreaking\b/);
    expect(text).toMatch(/description/i);
    // Nothing happens before the confirmation.
    expect((await api.live(SLUG)).currentReleaseNumber).toBe(3n);
    await dialog.getByRole("textbox", { name: "Reason", exact: true }).fill("delete_pet misbehaves");
    await screenshot(page, "10-rollback-dialog");
    await dialog.getByRole("button", { name: "Roll back", exact: true }).click();
    await dialog.waitFor({ state: "hidden" });

    await releaseRow(page, 1).getByText("Current").waitFor();
    expect(await releaseRow(page, 3).textContent()).not.toContain("Current");
    await releaseRow(page, 3).getByRole("button", { name: "Roll back to release 3", exact: true }).waitFor();
    expect(
      await releaseRow(page, 1)
        .getByRole("button", { name: /^Roll back to release/ })
        .count(),
    ).toBe(0);
    const live = await api.live(SLUG);
    expect(live.currentReleaseNumber).toBe(1n);
    const [event] = (await api.listEvents(SLUG)).events;
    expect(event?.kind).toBe(ReleaseEventKind.ROLLED_BACK);
    expect(event?.notes).toBe("delete_pet misbehaves");
    expect((await api.resolve(SLUG)).tools.map((t) => t.name).sort()).toEqual(["get_pet", "list_pets"]);
  });

  it("the event log lists the moves of the live pointer, newest first", async () => {
    const page = await open();
    await signIn(page, tenant.producerKey, page$());
    await page.getByRole("heading", { level: 1, name: "Pet store" }).waitFor();
    await openTab(page, "Events");
    const kinds = /Published|Rolled back|Mode switched/;
    const rows = page.getByRole("row").filter({ hasText: kinds });
    await rows.first().waitFor();
    const texts = await rows.allTextContents();
    // After the test above: rolled back, published twice, switched (or, run alone, without the rollback).
    const expected = (await api.listEvents(SLUG)).events.map((e) =>
      e.kind === ReleaseEventKind.PUBLISHED ? "Published" : e.kind === ReleaseEventKind.ROLLED_BACK ? "Rolled back" : "Mode switched",
    );
    expect(expected.slice(-3)).toEqual(["Published", "Published", "Mode switched"]);
    expect(texts.map((t) => t.match(kinds)?.[0])).toEqual(expected);
    if (expected[0] === "Rolled back") expect(texts[0]).toContain("delete_pet misbehaves");
    await screenshot(page, "11-events");
  });
});
