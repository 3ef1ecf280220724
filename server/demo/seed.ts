import { isDeepStrictEqual } from "node:util";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { Kysely } from "kysely";
import { CreateDeploymentRequestSchema, UpsertPromptTemplateRequestSchema, type HttpToolDefinitionSchema } from "../../gen/sources/v1/sources_pb.js";
import { createApiKey } from "../auth/keys.js";
import type { Database, Db, HttpToolDefinitionRow } from "../db/database.js";
import { inTransaction } from "../db/transaction.js";
import {
  findActiveDeployment,
  insertDeployment,
  insertToolDefinitions,
  listToolDefinitions,
  lockProjectForDeployment,
  type NewToolDefinition,
} from "../model/deployments.js";
import { findLatestRevision, insertRevision, lockPromptTemplateName } from "../model/prompt-templates.js";
import { findOrganizationId, findProject, revokeApiKeyByName } from "../model/tenants.js";
import { findLiveToolset, insertToolset, stateOf, updateToolsetState } from "../model/toolsets.js";
import { DomainError } from "../platform/errors.js";
import { httpToolUrn } from "../platform/validate.js";
// The rules of CreateDeployment and UpsertPromptTemplate, so the demo's sources
// are exactly what those RPCs would have stored.
import { validateCreateDeployment } from "../sources/deployment-input.js";
import { toHttpToolDefinition } from "../sources/mapping.js";
import { validateUpsertPromptTemplate } from "../sources/prompt-template-input.js";

// The demo of `make run` (DESIGN §10): the pet store's four operations deployed
// as HTTP tools of source `petstore` in dev/default, and toolset `petstore`
// serving them (with one prompt template) at a public MCP endpoint. Written
// through the model functions the RPC handlers use, in one transaction, so the
// change feed tells every replica and a half-made demo never exists.

/** Where the demo lives: the dev seed's organization and project. */
export const DEMO = { org: "dev", project: "default", toolset: "petstore", mcpSlug: "petstore", source: "petstore" } as const;

/** The prompt template of the demo toolset; `{{tag}}` is its argument. */
export const DEMO_PROMPT = "find_pet";

type ToolInit = MessageInitShape<typeof HttpToolDefinitionSchema>;

const petId = { type: "integer", minimum: 1, description: "The pet's id, as list_pets returns it." } as const;

/** The pet store's operations as HTTP tools whose requests go to `serverUrl`. */
export function petStoreTools(serverUrl: string): ToolInit[] {
  const tool = (t: Omit<ToolInit, "source" | "serverUrl" | "$typeName">): ToolInit => ({ source: DEMO.source, serverUrl, tags: ["pets"], ...t });
  return [
    tool({
      name: "list_pets",
      title: "List pets",
      summary: "List the pets",
      description: "Lists the pets in the store, oldest first; optionally only those with a tag, and at most `limit` of them.",
      httpMethod: "GET",
      path: "/pets",
      inputSchema: {
        type: "object",
        properties: {
          tag: { type: "string", description: 'Only pets with this tag, e.g. "dog".' },
          limit: { type: "integer", minimum: 1, maximum: 100, description: "At most this many pets (default 100)." },
        },
        additionalProperties: false,
      },
      readOnlyHint: true,
      destructiveHint: false,
      idempotentHint: true,
      openWorldHint: false,
    }),
    tool({
      name: "get_pet",
      title: "Get a pet",
      summary: "Get one pet",
      description: "Returns the pet with this id; a 404 error when there is none.",
      httpMethod: "GET",
      path: "/pets/{petId}",
      inputSchema: { type: "object", properties: { petId }, required: ["petId"], additionalProperties: false },
      readOnlyHint: true,
      destructiveHint: false,
      idempotentHint: true,
      openWorldHint: false,
    }),
    tool({
      name: "create_pet",
      title: "Add a pet",
      summary: "Add a pet",
      description: "Adds a pet to the store and returns it with its new id.",
      httpMethod: "POST",
      path: "/pets",
      inputSchema: {
        type: "object",
        properties: {
          name: { type: "string", minLength: 1, maxLength: 100, description: "The pet's name." },
          tag: { type: "string", maxLength: 50, description: 'A tag such as "dog" or "cat".' },
        },
        required: ["name"],
        additionalProperties: false,
      },
      readOnlyHint: false,
      destructiveHint: false,
      idempotentHint: false,
      openWorldHint: false,
    }),
    tool({
      name: "delete_pet",
      title: "Remove a pet",
      summary: "Remove a pet",
      description: "Removes the pet with this id from the store and returns it; a 404 error when there is none.",
      httpMethod: "DELETE",
      path: "/pets/{petId}",
      inputSchema: { type: "object", properties: { petId }, required: ["petId"], additionalProperties: false },
      readOnlyHint: false,
      destructiveHint: true,
      idempotentHint: true,
      openWorldHint: false,
    }),
  ];
}

/** The demo's prompt template, as an UpsertPromptTemplate request would give it. */
function promptTemplateRequest() {
  return create(UpsertPromptTemplateRequestSchema, {
    project: DEMO.project,
    name: DEMO_PROMPT,
    description: "Find a pet with a given tag and show its details.",
    prompt: 'Find the pets tagged "{{tag}}" with list_pets, then show the details of the first one with get_pet.',
    arguments: {
      type: "object",
      properties: { tag: { type: "string", description: 'The tag to look for, e.g. "dog".' } },
      required: ["tag"],
    },
  });
}

/** The name of the producer key the demo issues for the console on each start. */
export const CONSOLE_KEY_NAME = "dev-console";

/**
 * A new producer key of organization dev for signing in to the console, shown
 * in this start's banner: keys are stored as hashes, so one printed at an
 * earlier start cannot be shown again. The previous console key is revoked in
 * the same transaction, so one such key is valid at a time.
 */
export async function issueConsoleKey(db: Kysely<Database>): Promise<string> {
  return db.transaction().execute(async (trx) => {
    await revokeApiKeyByName(trx, DEMO.org, CONSOLE_KEY_NAME);
    return (await createApiKey(trx, { org: DEMO.org, scope: "producer", name: CONSOLE_KEY_NAME })).key;
  });
}

/** The demo endpoint as it stands after seeding. */
export interface DemoEndpoint {
  /** True when this call created the toolset (and deployed the tools). */
  created: boolean;
  org: string;
  project: string;
  /** Null when someone has cleared the toolset's mcp_slug since. */
  mcpSlug: string | null;
  mcpEnabled: boolean;
  mcpIsPublic: boolean;
}

/** Whether the stored definitions already hold each of `wanted`, field for field. */
function alreadyDeployed(rows: readonly HttpToolDefinitionRow[], wanted: readonly NewToolDefinition[]): boolean {
  const byUrn = new Map(rows.map((r) => [r.tool_urn, r]));
  return wanted.every((w) => {
    const row = byUrn.get(w.tool_urn);
    if (!row) return false;
    const { input_schema, ...rest } = w;
    // jsonb reorders keys: compare the schemas as values.
    return (
      isDeepStrictEqual(row.input_schema, JSON.parse(input_schema)) &&
      Object.entries(rest).every(([k, v]) => isDeepStrictEqual(row[k as keyof typeof row], v))
    );
  });
}

/**
 * Seeds the demo into dev/default, idempotently: when toolset `petstore`
 * exists it is left as it is (whatever was edited since) and only read.
 * Otherwise, in one transaction: a deployment that is the active one's tools of
 * other sources plus the pet store tools at `petStoreUrl` (none when the active
 * one already has them as they are), prompt template `find_pet` (unless one of
 * that name exists), and toolset `petstore` in iteration mode with the four
 * tools and the prompt, MCP enabled and public at mcp_slug `petstore`.
 * Undefined when dev/default does not exist (the dev seed was not run, or it
 * was deleted). Throws DomainError when the seed cannot be made (say,
 * mcp_slug `petstore` taken by another toolset).
 */
export async function seedDemo(db: Kysely<Database>, petStoreUrl: string): Promise<DemoEndpoint | undefined> {
  const orgId = await findOrganizationId(db, DEMO.org);
  const project = orgId === undefined ? undefined : await findProject(db, orgId, DEMO.project);
  if (!project) return undefined;
  const endpoint = (created: boolean, row: { mcp_slug: string | null; mcp_enabled: boolean; mcp_is_public: boolean }): DemoEndpoint => ({
    created,
    org: DEMO.org,
    project: DEMO.project,
    mcpSlug: row.mcp_slug,
    mcpEnabled: row.mcp_enabled,
    mcpIsPublic: row.mcp_is_public,
  });
  const existing = await findDemoToolset(db, project.id);
  if (existing) return endpoint(false, existing);

  const ours = petStoreTools(petStoreUrl);
  const prompt = validateUpsertPromptTemplate(promptTemplateRequest());
  try {
    return await inTransaction(db, async (trx) => {
      // Rechecked under the project lock: a concurrent seed (two processes
      // starting at once) waits here and then finds the toolset.
      await lockProjectForDeployment(trx, project.id);
      const raced = await findDemoToolset(trx, project.id);
      if (raced) return endpoint(false, raced);

      const active = await findActiveDeployment(trx, project.id);
      const current = active ? await listToolDefinitions(trx, active.id) : [];
      const wanted = validateCreateDeployment(create(CreateDeploymentRequestSchema, { project: DEMO.project, tools: ours })).tools;
      if (!alreadyDeployed(current, wanted)) {
        // A deployment is a project's complete tool list: keep the tools of other sources.
        const kept = current.filter((r) => r.source !== DEMO.source).map(toHttpToolDefinition);
        const { tools } = validateCreateDeployment(create(CreateDeploymentRequestSchema, { project: DEMO.project, tools: [...kept, ...ours] }));
        const deployment = await insertDeployment(trx, project.id, undefined);
        if (!deployment) throw new Error("a deployment without an idempotency key was not inserted");
        await insertToolDefinitions(trx, project.id, deployment.id, tools);
      }

      await lockPromptTemplateName(trx, project.id, prompt.name);
      const latest = await findLatestRevision(trx, project.id, prompt.name);
      if (latest === undefined || latest.deleted_at !== null) await insertRevision(trx, project.id, prompt, undefined);

      // CreateToolset, then UpdateToolset of the MCP settings, as a producer would.
      const toolset = await insertToolset(trx, project.id, DEMO.toolset, {
        name: "Pet store",
        description: "The demo of make run: a small pet store API (list, get, add and remove pets) served by the dev process.",
        tool_urns: ours.map((t) => httpToolUrn(DEMO.source, t.name!)),
        resource_urns: [],
        prompt_template_names: [prompt.name],
        mcp_slug: null,
        mcp_enabled: false,
        mcp_is_public: false,
      });
      const live = await updateToolsetState(trx, toolset, { ...stateOf(toolset), mcp_slug: DEMO.mcpSlug, mcp_enabled: true, mcp_is_public: true });
      return endpoint(true, live);
    });
  } catch (err) {
    // Another process created the toolset between the check and the insert
    // without waiting on the project lock (a producer's CreateToolset).
    if (err instanceof DomainError && err.kind === "already_exists" && err.detail.metadata?.["entity"] === "toolset") {
      const now = await findDemoToolset(db, project.id);
      if (now) return endpoint(false, now);
    }
    throw err;
  }
}

async function findDemoToolset(db: Db, projectId: string) {
  try {
    return await findLiveToolset(db, projectId, DEMO.toolset);
  } catch (err) {
    if (err instanceof DomainError && err.kind === "not_found") return undefined;
    throw err;
  }
}
