import { ConnectError, Code, type HandlerContext } from "@connectrpc/connect";
import { toBinary, type UnknownField } from "@bufbuild/protobuf";
import {
  ResolvedPromptSchema,
  ResolvedToolSchema,
  ResolvedToolsetSchema,
  ResolveToolsetResponseSchema,
  type ResolvedToolset,
  type ResolveToolsetRequest,
  type WatchToolsetRequest,
} from "../../gen/releases/v1/releases_pb.js";
import type { ServedResolve, ServiceContext } from "../context.js";
import { callerKey, type Caller } from "../auth/caller.js";
import { bearerKey, missingKey } from "../auth/interceptor.js";
import { resolveProject, type ProjectScope } from "../auth/project.js";
import { authorize } from "../auth/scope.js";
import { snapshot } from "../db/transaction.js";
import { findLiveToolset, findLiveToolsetByMcpSlug } from "../model/toolsets.js";
import { DomainError, invalidArgument, notFound } from "../platform/errors.js";
import { slug as checkSlug, text } from "../platform/validate.js";
import { encodedField, encodeStruct, withUnknownField } from "../platform/wire.js";
import { resolveContent, rowSelection } from "../resolve/resolve.js";
import { targetState, type TargetRef } from "../resolve/targets.js";
import type { Tags } from "../serving/served-state.js";
import { toResolved } from "./mapping.js";
import { parseTarget } from "./release-input.js";

/** What ResolveToolset and WatchToolset are asked for, after validation and authorization. */
export interface ResolveAddress {
  project: ProjectScope;
  /** Exactly one of slug and mcpSlug is set. */
  slug: string;
  mcpSlug: string;
  ref: TargetRef;
  /** Set for a call without a key: the answer when the endpoint is not (or no longer) public. */
  anonymous: { notFound: string } | undefined;
  /** Re-checks that the caller may still ask (key not revoked, project still there); throws the error that ends a watch. */
  recheck(): Promise<void>;
  /** What `recheck` depends on. */
  authTags: Tags;
}

// Message, ids and bookkeeping around the content, per entry.
const ENTRY_OVERHEAD_BYTES = 2_048;

/**
 * Reads and checks a ResolveToolset or WatchToolset request. With a key: the
 * key's project rules, `organization` optional but, when set, the key's own.
 * Without one: only `organization` + `project` + `mcp_slug` of the live target
 * (UNAUTHENTICATED otherwise); a missing organization or project is the same
 * NOT_FOUND as a private, disabled or missing endpoint.
 */
export async function resolveAddress(
  context: ServiceContext,
  req: ResolveToolsetRequest | WatchToolsetRequest,
  ctx: HandlerContext,
): Promise<ResolveAddress> {
  const { tenancy } = context;
  const caller = ctx.values.get(callerKey);
  if (!caller) return anonymousAddress(context, req);
  const { project } = await authorize(tenancy, ctx, req.project);
  if (req.organization !== "") {
    checkSlug("organization", req.organization);
    // Another organization's project is as unknown as a missing one.
    if ((await tenancy.organizationId(req.organization)) !== caller.organizationId) throw notFound(`project "${req.project}" not found`);
  }
  const { slug, mcpSlug, ref } = checkAddressing(req);
  const key = bearerKey(ctx.requestHeader.get("authorization"));
  return {
    project,
    slug,
    mcpSlug,
    ref,
    anonymous: undefined,
    authTags: { organizationId: caller.organizationId, keyId: caller.keyId },
    async recheck() {
      const current: Caller | undefined = key === undefined ? undefined : await tenancy.caller(key);
      if (!current) throw new ConnectError("the API key was revoked", Code.Unauthenticated);
      await resolveProject(tenancy, current, req.project);
    },
  };
}

async function anonymousAddress(context: ServiceContext, req: ResolveToolsetRequest | WatchToolsetRequest): Promise<ResolveAddress> {
  const { tenancy } = context;
  if (req.organization === "") throw missingKey();
  const { slug, mcpSlug, ref } = checkAddressing(req);
  if (slug !== "" || ref.kind !== "live") {
    throw new ConnectError(
      "a call without a key may only resolve the live target of a public MCP endpoint, named by organization, project and mcp_slug",
      Code.Unauthenticated,
    );
  }
  checkSlug("organization", req.organization);
  checkSlug("project", req.project);
  const endpoint = { notFound: `no public MCP endpoint "${req.organization}/${req.project}/${mcpSlug}"` };
  const findProject = async (): Promise<ProjectScope> => {
    const organizationId = await tenancy.organizationId(req.organization);
    const project = organizationId === undefined ? undefined : await tenancy.project(organizationId, req.project);
    if (!project) throw notFound(endpoint.notFound);
    return project;
  };
  const project = await findProject();
  return {
    project,
    slug,
    mcpSlug,
    ref,
    anonymous: endpoint,
    authTags: { organizationId: project.organizationId },
    async recheck() {
      await findProject();
    },
  };
}

function checkAddressing(req: ResolveToolsetRequest | WatchToolsetRequest): { slug: string; mcpSlug: string; ref: TargetRef } {
  if ((req.slug === "") === (req.mcpSlug === "")) throw invalidArgument("slug", "give exactly one of slug or mcp_slug");
  if (req.slug !== "") checkSlug("slug", req.slug);
  else checkSlug("mcp_slug", req.mcpSlug);
  const ref = parseTarget("", req.target, req.releaseNumber);
  text("if_none_match", req.ifNoneMatch, { max: 128 });
  return { slug: req.slug, mcpSlug: req.mcpSlug, ref };
}

/** The served-state key of an address: one entry (and one watch topic) per project, toolset address and target. */
export function addressKey(a: ResolveAddress): string {
  const target = a.ref.kind === "release" ? `release:${a.ref.number}` : a.ref.kind;
  return `resolve:${a.project.id}:${a.slug !== "" ? `slug:${a.slug}` : `mcp:${a.mcpSlug}`}:${target}`;
}

/**
 * What an address resolves to: from the served state, else from the database
 * in one snapshot (the toolset row, the source pins and the content must
 * agree, or a concurrent edit could yield an etag for a state that never
 * existed). NOT_FOUND when the toolset or target does not exist; for an
 * anonymous call also when the endpoint is not enabled and public.
 */
export async function servedResolve(context: ServiceContext, a: ResolveAddress): Promise<ServedResolve> {
  const { db, served } = context;
  const entry = await served
    .get(addressKey(a), async () => {
      const { live, target, content } = await snapshot(db, async (trx) => {
        const live = a.slug !== "" ? await findLiveToolset(trx, a.project.id, a.slug) : await findLiveToolsetByMcpSlug(trx, a.project.id, a.mcpSlug);
        const target = await targetState(trx, live, a.ref);
        return { live, target, content: await resolveContent(trx, a.project.id, rowSelection(target.state), target.pins) };
      });
      return {
        value: servedEntry(toResolved(live, target, content)),
        tags: { organizationId: a.project.organizationId, projectId: a.project.id, toolsetId: live.id },
        // The message, its JSON and (once asked) its binary encoding.
        bytes: 3 * content.bytes + ENTRY_OVERHEAD_BYTES,
      };
    })
    .catch((err: unknown) => {
      // A private endpoint and a missing one must not be told apart.
      if (a.anonymous && err instanceof DomainError && err.kind === "not_found") throw notFound(a.anonymous.notFound);
      throw err;
    });
  if (a.anonymous && !isPublic(entry.message)) throw notFound(a.anonymous.notFound);
  return entry;
}

function isPublic(m: ResolvedToolset): boolean {
  return m.mcpEnabled && m.mcpIsPublic;
}

function servedEntry(message: ResolvedToolset): ServedResolve {
  let field: UnknownField | undefined;
  return {
    message,
    resolvedField: () => (field ??= encodedField(ResolveToolsetResponseSchema.field.resolved.number, encodeResolved(message))),
  };
}

const INPUT_SCHEMA = ResolvedToolSchema.field.inputSchema.number;
const PROMPT_ARGUMENTS = ResolvedPromptSchema.field.arguments.number;

/**
 * The binary encoding of a resolved toolset, with every Struct (input schemas,
 * prompt arguments) written by `encodeStruct` rather than by protobuf-es's
 * reflection: the same bytes a client decodes, at a fraction of the cost.
 * Works on copies; the served message is shared and never changed.
 */
export function encodeResolved(message: ResolvedToolset): Uint8Array {
  const fast: ResolvedToolset = {
    ...message,
    tools: message.tools.map((tool) =>
      tool.inputSchema === undefined
        ? tool
        : withUnknownField({ ...tool, inputSchema: undefined }, encodedField(INPUT_SCHEMA, encodeStruct(tool.inputSchema))),
    ),
    prompts: message.prompts.map((prompt) =>
      prompt.arguments === undefined
        ? prompt
        : withUnknownField({ ...prompt, arguments: undefined }, encodedField(PROMPT_ARGUMENTS, encodeStruct(prompt.arguments))),
    ),
  };
  return toBinary(ResolvedToolsetSchema, fast);
}
