import type { MessageInitShape } from "@bufbuild/protobuf";
import type { CallOptions } from "@connectrpc/connect";
import { ReleaseService, Target, type ReleaseRefSchema, type ResolveToolsetRequestSchema } from "../../gen/releases/v1/releases_pb.js";
import { SourceService, type UpsertPromptTemplateRequestSchema } from "../../gen/sources/v1/sources_pb.js";
import {
  EditingMode,
  ToolsetService,
  type ToolsetFieldsSchema,
  type ToolVariationSchema,
  type VariationScopeSchema,
} from "../../gen/toolsets/v1/toolsets_pb.js";
import { urn, type InitObject, type Tenant, type ToolInit } from "./fixtures.js";
import { bearer, type Protocol, type TestServer } from "./server.js";

/** Which toolset's variations a call addresses: `{ global: true }` or `{ toolsetSlug, staging? }`. */
export type ScopeInit = MessageInitShape<typeof VariationScopeSchema>;
/** The overrides of one tool variation. */
export type VariationInit = MessageInitShape<typeof ToolVariationSchema>;
/** The editable fields of a toolset. */
export type FieldsInit = MessageInitShape<typeof ToolsetFieldsSchema>;

/** How a driver calls: which key, which project, which wire protocol. */
export interface DriverOptions {
  /** The tenant key to send (default "producer"); ignored when `apiKey` is set. */
  scope?: "producer" | "consumer" | undefined;
  /** A key of its own to send instead of the tenant's (revoked, bound to a project, another organization's). */
  apiKey?: string | undefined;
  /** The project the calls name (default the tenant's own). */
  project?: string | undefined;
  /** The wire protocol (default Connect JSON). */
  protocol?: Protocol | undefined;
}

/** A ReleaseRef: a release number, or a target. */
export function ref(r: bigint | Target): MessageInitShape<typeof ReleaseRefSchema> {
  return typeof r === "bigint" ? { ref: { case: "releaseNumber", value: r } } : { ref: { case: "target", value: r } };
}

/** The field mask path of a ToolsetFields key (`toolUrns` → `tool_urns`). */
const maskPath = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The calls tests make as one tenant. */
export type Driver = ReturnType<typeof driver>;

/**
 * The generated clients and the operations tests repeat, as `tenant` (default its
 * producer key, its own project, Connect JSON). `server` and `tenant` are read at
 * each call, so the handles of `useTestServer` may be passed before they are ready.
 * Operations return the message of the response (a Toolset, a Release, …); list
 * calls return the response, for its page token.
 */
export function driver(server: TestServer, tenant: Tenant, options: DriverOptions = {}) {
  const project = () => options.project ?? tenant.project;
  const auth = (): CallOptions => bearer(options.apiKey ?? (options.scope === "consumer" ? tenant.consumerKey : tenant.producerKey));
  const sources = () => server.client(SourceService, options.protocol);
  const toolsets = () => server.client(ToolsetService, options.protocol);
  const releases = () => server.client(ReleaseService, options.protocol);
  const upsertVariation = async (scope: ScopeInit, variation: VariationInit) => {
    const { variation: stored } = await toolsets().upsertToolVariation({ project: project(), scope, variation }, auth());
    if (!stored) throw new Error("UpsertToolVariation answered without a variation");
    return stored;
  };
  const createToolset = async (slug: string, toolNames: string[] = [], promptTemplateNames: string[] = []) =>
    (await toolsets().createToolset({ project: project(), name: slug, slug, toolUrns: toolNames.map(urn), promptTemplateNames }, auth())).toolset!;
  /** UpdateToolset of exactly the given fields (the mask lists them), of the live toolset or of its staging copy. */
  const updateFields = async (slug: string, fields: FieldsInit, staging: boolean) => {
    const paths = Object.keys(fields)
      .filter((k) => k !== "$typeName")
      .map(maskPath);
    return (await toolsets().updateToolset({ project: project(), slug, staging, fields, updateMask: { paths } }, auth())).toolset!;
  };
  const switchMode = async (slug: string, mode: EditingMode, discardStaging = false) =>
    (await toolsets().switchEditingMode({ project: project(), slug, mode, discardStaging }, auth())).toolset!;

  return {
    tenant,
    /** The project the calls name. */
    get project() {
      return project();
    },
    /** The call options carrying the key (as `auth()`). */
    get key() {
      return auth();
    },
    auth,
    sources,
    toolsets,
    releases,
    /** The same driver with some options changed, or as another tenant. */
    with: (more: DriverOptions & { tenant?: Tenant }) => {
      const { tenant: other = tenant, ...rest } = more;
      return driver(server, other, { ...options, ...rest });
    },

    // SourceService
    deploy: async (tools: ToolInit[], idempotencyKey = "") =>
      (await sources().createDeployment({ project: project(), tools, idempotencyKey }, auth())).deployment!,
    upsertPrompt: async (
      name: string,
      prompt: string,
      more: Omit<InitObject<typeof UpsertPromptTemplateRequestSchema>, "project" | "name" | "prompt"> = {},
    ) => (await sources().upsertPromptTemplate({ ...more, project: project(), name, prompt }, auth())).promptTemplate!,

    // ToolsetService: toolsets and editing modes
    createToolset,
    switchMode,
    /** Creates a toolset of `toolNames` (HTTP tools of source "api") and switches it to staging mode (release 1); returns the live toolset. */
    staged: async (slug: string, toolNames: string[], promptTemplateNames: string[] = []) => {
      await createToolset(slug, toolNames, promptTemplateNames);
      return switchMode(slug, EditingMode.STAGING);
    },
    /** Updates the given fields of the live toolset (the mask lists exactly them). */
    editLive: (slug: string, fields: FieldsInit) => updateFields(slug, fields, false),
    /** Updates the given fields of the staging copy (the mask lists exactly them). */
    editStaging: (slug: string, fields: FieldsInit) => updateFields(slug, fields, true),
    live: async (slug: string) => (await toolsets().getToolset({ project: project(), slug }, auth())).toolset!,
    stagingCopy: async (slug: string) => (await toolsets().getStagingVersion({ project: project(), slug }, auth())).toolset!,
    discard: (slug: string) => toolsets().discardStagingVersion({ project: project(), slug }, auth()),

    // ToolsetService: variations
    upsertVariation,
    listVariations: async (scope: ScopeInit) => (await toolsets().listToolVariations({ project: project(), scope }, auth())).variations,
    variationVersions: async (scope: ScopeInit, srcToolUrn: string) =>
      (await toolsets().listToolVariationVersions({ project: project(), scope, srcToolUrn }, auth())).versions,
    deleteVariation: async (scope: ScopeInit, srcToolUrn: string) => {
      await toolsets().deleteToolVariation({ project: project(), scope, srcToolUrn }, auth());
    },
    /** Sets the description of tool `toolName` (source "api") in the project's global variations. */
    globalVariation: (toolName: string, description: string) => upsertVariation({ global: true }, { srcToolUrn: urn(toolName), description }),
    /** Sets the description of tool `toolName` (source "api") in the variations of the staging copy of `slug`. */
    stagingVariation: (slug: string, toolName: string, description: string) =>
      upsertVariation({ toolsetSlug: slug, staging: true }, { srcToolUrn: urn(toolName), description }),

    // ReleaseService
    publish: async (slug: string, notes = "", idempotencyKey = "") =>
      (await releases().publishStagingVersion({ project: project(), slug, notes, idempotencyKey }, auth())).release!,
    rollback: async (slug: string, releaseNumber: bigint, reason = "") =>
      (await releases().rollbackToRelease({ project: project(), slug, releaseNumber, reason }, auth())).toolset!,
    getRelease: async (slug: string, releaseNumber: bigint) =>
      (await releases().getRelease({ project: project(), slug, releaseNumber }, auth())).release!,
    listReleases: (slug: string, pageSize = 0, pageToken = "") => releases().listReleases({ project: project(), slug, pageSize, pageToken }, auth()),
    listEvents: (slug: string, pageSize = 0, pageToken = "") =>
      releases().listReleaseEvents({ project: project(), slug, pageSize, pageToken }, auth()),
    diff: async (slug: string, from: bigint | Target, to: bigint | Target) =>
      (await releases().diffReleases({ project: project(), slug, from: ref(from), to: ref(to) }, auth())).changes,
    /** What `slug` serves at `target`, or at `releaseNumber` (with Target.UNSPECIFIED). */
    resolve: async (slug: string, target: Target = Target.LIVE, releaseNumber = 0n) =>
      (await releases().resolveToolset({ project: project(), slug, target, releaseNumber }, auth())).resolved!,
    /** The whole ResolveToolset response, for requests `resolve` does not make (by mcp_slug, with if_none_match). */
    resolveToolset: (request: Omit<InitObject<typeof ResolveToolsetRequestSchema>, "project">) =>
      releases().resolveToolset({ ...request, project: project() }, auth()),
  };
}
