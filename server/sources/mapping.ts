import { create } from "@bufbuild/protobuf";
import {
  DeploymentSchema,
  HttpToolDefinitionSchema,
  PromptTemplateSchema,
  type Deployment,
  type HttpToolDefinition,
  type PromptTemplate,
} from "../../gen/sources/v1/sources_pb.js";
import type { HttpToolDefinitionRow, PromptTemplateRow } from "../db/database.js";
import type { DeploymentWithUrns } from "../model/deployments.js";
import { jsonObject, toHints, toTimestamp } from "../platform/mapping.js";

/** A stored tool definition as the API shows it, URN included. */
export function toHttpToolDefinition(row: HttpToolDefinitionRow): HttpToolDefinition {
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
    ...toHints(row),
    title: row.title,
  });
}

/** A deployment as the API shows it; `tools` only when the RPC returns them. */
export function toDeployment(row: DeploymentWithUrns, tools: readonly HttpToolDefinitionRow[] = []): Deployment {
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
