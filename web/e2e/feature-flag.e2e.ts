import { beforeAll, describe, expect, it } from "vitest";
import { EditingMode } from "../../gen/toolsets/v1/toolsets_pb.js";
import { createTenant, screenshot, useConsole, type Tenant } from "./support/harness.js";
import { createPetToolset, deployPetTools, toolsetPath } from "./support/seed.js";

// Staging is gated per organization (DESIGN §2 rule 8): without the
// toolset_staging feature the switch is refused, and the console says so plainly.

const { server, api, open, signIn } = useConsole();
let plain: Tenant;

beforeAll(async () => {
  plain = await createTenant(server.db, { features: [] });
  const as = api.with({ tenant: plain });
  await deployPetTools(as);
  await createPetToolset(as, { slug: "pets", name: "Pet store", tools: ["list_pets"] });
});

describe("an organization without toolset_staging", () => {
  it("switching to staging shows an alert in words, and the toolset stays in iteration mode", async () => {
    const page = await open();
    await signIn(page, plain.producerKey, toolsetPath(plain.project, "pets"));
    await page.getByRole("heading", { level: 1, name: "Pet store" }).waitFor();
    await page.getByRole("button", { name: "Switch to staging mode", exact: true }).click();

    const alert = page.getByRole("alert").filter({ hasText: /not enabled/i });
    await alert.waitFor();
    const text = (await alert.textContent()) ?? "";
    expect(text).toMatch(/organi[sz]ation/i);
    expect(text).not.toMatch(/FAILED_PRECONDITION|failed[_ ]precondition|FEATURE_NOT_ENABLED|\[\w+\]/i);
    await screenshot(page, "15-feature-refused");

    expect((await api.with({ tenant: plain }).live("pets")).editingMode).toBe(EditingMode.ITERATION);
    await page.getByRole("button", { name: "Switch to staging mode", exact: true }).waitFor();
    expect(await page.getByRole("radiogroup", { name: "View" }).count()).toBe(0);
  });
});
