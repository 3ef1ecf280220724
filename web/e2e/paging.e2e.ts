import { beforeAll, describe, expect, it } from "vitest";
import { EditingMode } from "../../gen/toolsets/v1/toolsets_pb.js";
import { useConsole } from "./support/harness.js";
import { deployPetTools, openTab } from "./support/seed.js";

// Long lists page (issue 12): the toolsets list shows 50 at a time, the
// release history and the event log 20 and 25, each with a "Load more" button
// that adds the next page in order, until there is none.

const { tenant, api, open, signIn } = useConsole();
const TOOLSETS = 53;
const RELEASES = 27;

beforeAll(async () => {
  await deployPetTools(api);
  for (let i = 0; i < TOOLSETS; i++) await api.createToolset(`ts-${String(i).padStart(2, "0")}`, ["list_pets"]);
  await api.switchMode("ts-00", EditingMode.STAGING);
  for (let n = 2; n <= RELEASES; n++) {
    await api.editStaging("ts-00", { description: `change ${n}` });
    await api.publish("ts-00", `release ${n}`);
  }
}, 120_000);

describe("long lists", () => {
  it("page the toolsets, the releases and the events", async () => {
    const page = await open();
    await signIn(page, tenant.producerKey, `/projects/${tenant.project}`);
    await page.getByRole("heading", { name: "Toolsets" }).waitFor();
    const toolsetLinks = page.getByRole("table").getByRole("link");
    await page.getByRole("link", { name: "ts-49", exact: true }).waitFor();
    expect(await toolsetLinks.count()).toBe(50);
    await page.getByRole("button", { name: "Load more toolsets", exact: true }).click();
    await page.getByRole("link", { name: "ts-52", exact: true }).waitFor();
    expect(await toolsetLinks.allTextContents()).toEqual(Array.from({ length: TOOLSETS }, (_, i) => `ts-${String(i).padStart(2, "0")}`));
    expect(await page.getByRole("button", { name: "Load more toolsets", exact: true }).count()).toBe(0);

    await page.goto(page.url().replace(/\/projects\/.*$/, `/projects/${tenant.project}/toolsets/ts-00/releases`));
    await page.getByRole("link", { name: `Release ${RELEASES}`, exact: true }).waitFor();
    const releaseLinks = page.getByRole("table").getByRole("link", { name: /^Release \d+$/ });
    expect(await releaseLinks.count()).toBe(20);
    await page.getByRole("button", { name: "Load more releases", exact: true }).click();
    await page.getByRole("link", { name: "Release 1", exact: true }).waitFor();
    expect(await releaseLinks.allTextContents()).toEqual(Array.from({ length: RELEASES }, (_, i) => `Release ${RELEASES - i}`));

    await openTab(page, "Events");
    const rows = page.getByRole("table").getByRole("row");
    await page.getByRole("button", { name: "Load more events", exact: true }).waitFor();
    expect(await rows.count()).toBe(1 + 25); // the header row and one page
    await page.getByRole("button", { name: "Load more events", exact: true }).click();
    // RELEASES - 1 publishes and the switch to staging mode.
    await page.getByRole("row").filter({ hasText: "Mode switched" }).waitFor();
    expect(await rows.count()).toBe(1 + RELEASES);
  });
});
