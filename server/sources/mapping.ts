import { create } from "@bufbuild/protobuf";
import {
  DeploymentSchema,
  HttpToolDefinitionSchema,
  PromptTemplateSchema,
  type Deployment,
  type HttpToolDefinition,
  type PromptTemplate,
} from "../../gen/sources/v1/sources_pb.js";
import { jsonObject, toTimestamp } from "../platform/mapping.js";
import type { DeploymentWithUrns, ToolDefinitionRow } from "./deployment-queries.js";
import type { PromptTemplateRow } from "./prompt-template-queries.js";

/** A stored tool definition as the API shows it, URN included. */
export function toHttpToolDefinition(row: ToolDefinitionRow): HttpToolDefinition {
  return create(HttpToolDefinitionSchema, {
    urn: row.tool_urn,
    source: row.source,
    name: row.name,
    summary: row.summary,
    description: row.description,
    httpMethod: row.http_method,
    path: row.path,
    serverUrl: row.server_url,
    inputSchema: jsonObject(row.input_schema),
    tags: row.tags,
    // null = the hint was not stated, which proto3 `optional` spells as unset.
    ...(row.read_only_hint === null ? {} : { readOnlyHint: row.read_only_hint }),
    ...(row.destructive_hint === null ? {} : { destructiveHint: row.destructive_hint }),
    ...(row.idempotent_hint === null ? {} : { idempotentHint: row.idempotent_hint }),
    ...(row.open_world_hint === null ? {} : { openWorldHint: row.open_world_hint }),
    title: row.title,
  });
}

/** A deployment as the API shows it; `tools` only when the RPC returns them. */
export function toDeployment(row: DeploymentWithUrns, tools: readonly ToolDefinitionRow[] = []): Deployment {
  return create(DeploymentSchema, {
    id: row.id,
    seq: row.seq,
    createdAt: toTimestamp(row.created_at),
    toolUrns: row.toolUrns,
    tools: tools.map(toHttpToolDefinition),
  });
}

/** A prompt template revision as the API shows it. */
export function toPromptTemplate(row: PromptTemplateRow): PromptTemplate {
  return create(PromptTemplateSchema, {
    id: row.id,
    historyId: row.history_id,
    predecessorId: row.predecessor_id ?? "",
    name: row.name,
    description: row.description,
    prompt: row.prompt,
    arguments: jsonObject(row.arguments),
    createdAt: toTimestamp(row.created_at),
  });
}
