import type { Page } from "playwright-core";
import { EditingMode } from "../../../gen/toolsets/v1/toolsets_pb.js";
import { httpTool, urn, type Driver } from "./harness.js";

/** The HTTP tools (source "api") every scenario deploys: a small pet store. */
export const PET_TOOLS = ["list_pets", "get_pet", "create_pet", "delete_pet"] as const;
export type PetTool = (typeof PET_TOOLS)[number];

/** Makes a deployment of the pet store's tools the active one of the driver's project. */
export async function deployPetTools(api: Driver): Promise<void> {
  await api.deploy(PET_TOOLS.map((name) => httpTool(name)));
}

/** What `createPetToolset` makes. */
export interface ToolsetSeed {
  slug: string;
  /** Display name (the toolset page's heading). */
  name: string;
  tools: readonly PetTool[];
  description?: string;
  /** The MCP endpoint slug (enabled, private); default the toolset's slug. */
  mcpSlug?: string;
  /** Switch to staging mode (release 1) after creating it. */
  staging?: boolean;
}

/** Creates a toolset of pet tools with a name, a description and an enabled MCP endpoint; in staging mode when asked. */
export async function createPetToolset(api: Driver, seed: ToolsetSeed): Promise<void> {
  await api.createToolset(seed.slug, [...seed.tools]);
  await api.editLive(seed.slug, {
    name: seed.name,
    description: seed.description ?? `${seed.name}, for the end-to-end tests`,
    mcpSlug: seed.mcpSlug ?? seed.slug,
    mcpEnabled: true,
  });
  if (seed.staging === true) await api.switchMode(seed.slug, EditingMode.STAGING);
}

/** Edits the staging copy of `slug` to serve `tools` and publishes it; returns the new release's number. */
export async function publishTools(api: Driver, slug: string, tools: readonly PetTool[], notes: string, description?: string): Promise<bigint> {
  await api.editStaging(slug, { toolUrns: tools.map(urn), ...(description !== undefined ? { description } : {}) });
  return (await api.publish(slug, notes)).releaseNumber;
}

/** The console path of a toolset's page. */
export function toolsetPath(project: string, slug: string): string {
  return `/projects/${project}/toolsets/${slug}`;
}

/** Clicks the tab `name` of the toolset page and waits until it is the selected one. */
export async function openTab(page: Page, name: "Overview" | "Edit" | "Changes" | "Releases" | "Events"): Promise<void> {
  const tab = page.getByRole("tab", { name, exact: true });
  await tab.click();
  await page.getByRole("tab", { name, exact: true, selected: true }).waitFor();
}

/** Chooses "Live" or "Staging" in the toolset page's View radio group. */
export async function view(page: Page, target: "Live" | "Staging"): Promise<void> {
  const radio = page.getByRole("radiogroup", { name: "View" }).getByRole("radio", { name: target, exact: true });
  await radio.check();
}

/** The rows of the releases table, by the "Release N" link they hold. */
export function releaseRow(page: Page, n: number | bigint) {
  return page.getByRole("row").filter({ has: page.getByRole("link", { name: `Release ${n}`, exact: true }) });
}

/** The names of the "Release N" links of the releases table, top to bottom. */
export async function releaseOrder(page: Page): Promise<string[]> {
  return page
    .getByRole("row")
    .getByRole("link", { name: /^Release \d+$/ })
    .allTextContents();
}
