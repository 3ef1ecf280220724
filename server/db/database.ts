import type { ColumnType, Generated, Insertable, Kysely, Selectable, Transaction } from "kysely";

// Row types for every table; columns with database defaults are Generated.
// int8 columns arrive as bigint (see pool.ts), timestamptz as Date.

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type CreatedAt = ColumnType<Date, never, never>;
type Json = ColumnType<unknown, string, string>;

export interface OrganizationsTable {
  id: Generated<string>;
  slug: string;
  name: string;
  features: Generated<string[]>;
  created_at: CreatedAt;
  deleted_at: Timestamp | null;
}

export interface ProjectsTable {
  id: Generated<string>;
  organization_id: string;
  slug: string;
  name: string;
  created_at: CreatedAt;
  deleted_at: Timestamp | null;
}

export type ApiKeyScope = "producer" | "consumer";

export interface ApiKeysTable {
  id: Generated<string>;
  organization_id: string;
  project_id: string | null;
  name: string;
  scope: ApiKeyScope;
  key_hash: Buffer;
  display_prefix: string;
  created_at: CreatedAt;
  revoked_at: Timestamp | null;
}

export interface DeploymentsTable {
  id: Generated<string>;
  project_id: string;
  seq: bigint;
  idempotency_key: string | null;
  created_at: CreatedAt;
}

export interface HttpToolDefinitionsTable {
  id: Generated<string>;
  project_id: string;
  deployment_id: string;
  tool_urn: string;
  source: string;
  name: string;
  summary: string;
  description: string;
  http_method: string;
  path: string;
  server_url: string;
  input_schema: Json;
  tags: string[];
  read_only_hint: boolean | null;
  destructive_hint: boolean | null;
  idempotent_hint: boolean | null;
  open_world_hint: boolean | null;
  title: string;
  created_at: CreatedAt;
}

export interface PromptTemplatesTable {
  id: Generated<string>;
  project_id: string;
  history_id: string;
  predecessor_id: string | null;
  name: string;
  description: string;
  prompt: string;
  arguments: Json;
  created_at: CreatedAt;
  deleted_at: Timestamp | null;
}

export type EditingModeColumn = "iteration" | "staging";

export interface ToolsetsTable {
  id: Generated<string>;
  project_id: string;
  slug: string;
  name: string;
  description: string;
  tool_urns: string[];
  resource_urns: string[];
  prompt_template_names: string[];
  mcp_slug: string | null;
  mcp_enabled: boolean;
  mcp_is_public: boolean;
  created_at: CreatedAt;
  updated_at: Timestamp;
  deleted_at: Timestamp | null;
  parent_toolset_id: string | null;
  editing_mode: Generated<EditingModeColumn>;
  current_release_id: string | null;
  last_release_number: Generated<bigint>;
  predecessor_id: string | null;
  version: Generated<bigint>;
  history_id: string;
  tool_variations_group_id: string | null;
}

export interface ToolsetVersionsTable {
  id: Generated<string>;
  toolset_id: string;
  version: bigint;
  tool_urns: string[];
  resource_urns: string[];
  prompt_template_names: string[];
  predecessor_id: string | null;
  created_at: CreatedAt;
  name: string | null;
  description: string | null;
  mcp_slug: string | null;
  mcp_enabled: boolean | null;
  mcp_is_public: boolean | null;
}

export interface ToolVariationsGroupsTable {
  id: Generated<string>;
  project_id: string;
  name: string;
  created_at: CreatedAt;
  current_version_id: string | null;
}

export interface ProjectToolVariationsTable {
  project_id: string;
  group_id: string;
  created_at: CreatedAt;
}

export interface ToolVariationsTable {
  id: Generated<string>;
  group_id: string;
  src_tool_urn: string;
  name: string | null;
  description: string | null;
  summary: string | null;
  title: string | null;
  confirm: boolean | null;
  confirm_prompt: string | null;
  summarizer: string | null;
  tags: string[] | null;
  read_only_hint: boolean | null;
  destructive_hint: boolean | null;
  idempotent_hint: boolean | null;
  open_world_hint: boolean | null;
  created_at: CreatedAt;
  updated_at: Timestamp;
  deleted_at: Timestamp | null;
  predecessor_id: string | null;
  version: Generated<bigint>;
}

export interface ToolVariationsGroupVersionsTable {
  id: Generated<string>;
  group_id: string;
  version: bigint;
  variation_ids: string[];
  predecessor_id: string | null;
  created_at: CreatedAt;
}

export interface SystemSourceStatesTable {
  id: Generated<string>;
  project_id: string;
  prompt_template_ids: string[];
  digest: string;
  created_at: CreatedAt;
}

export interface SourceStatesTable {
  id: Generated<string>;
  project_id: string;
  deployment_id: string | null;
  system_source_state_id: string;
  created_at: CreatedAt;
}

export interface ToolsetReleasesTable {
  id: Generated<string>;
  toolset_id: string;
  release_number: bigint;
  notes: string;
  released_by: string;
  released_by_key_id: string | null;
  idempotency_key: string | null;
  source_state_id: string;
  toolset_version_id: string;
  global_variations_version_id: string | null;
  toolset_variations_version_id: string | null;
  etag: string;
  created_at: CreatedAt;
}

export type ReleaseEventKindColumn = "published" | "rolled_back" | "mode_switched";

export interface ToolsetReleaseEventsTable {
  id: Generated<string>;
  toolset_id: string;
  kind: ReleaseEventKindColumn;
  actor: string;
  actor_key_id: string | null;
  from_release_id: string | null;
  to_release_id: string | null;
  notes: string;
  created_at: CreatedAt;
}

/** The whole schema as Kysely sees it. */
export interface Database {
  organizations: OrganizationsTable;
  projects: ProjectsTable;
  api_keys: ApiKeysTable;
  deployments: DeploymentsTable;
  http_tool_definitions: HttpToolDefinitionsTable;
  prompt_templates: PromptTemplatesTable;
  toolsets: ToolsetsTable;
  toolset_versions: ToolsetVersionsTable;
  tool_variations_groups: ToolVariationsGroupsTable;
  project_tool_variations: ProjectToolVariationsTable;
  tool_variations: ToolVariationsTable;
  tool_variations_group_versions: ToolVariationsGroupVersionsTable;
  system_source_states: SystemSourceStatesTable;
  source_states: SourceStatesTable;
  toolset_releases: ToolsetReleasesTable;
  toolset_release_events: ToolsetReleaseEventsTable;
}

/** What a query runs on: the pool's handle, or a transaction (queries that lock take `Transaction<Database>`). */
export type Db = Kysely<Database> | Transaction<Database>;

export type OrganizationRow = Selectable<OrganizationsTable>;
export type ProjectRow = Selectable<ProjectsTable>;
export type ApiKeyRow = Selectable<ApiKeysTable>;
export type NewApiKey = Insertable<ApiKeysTable>;
export type ToolsetRow = Selectable<ToolsetsTable>;
/** A toolset row with the number of its current release (null = none), joined in SQL. */
export type ToolsetWithRelease = ToolsetRow & { current_release_number: bigint | null };
export type ToolsetVersionRow = Selectable<ToolsetVersionsTable>;
export type ToolsetReleaseRow = Selectable<ToolsetReleasesTable>;
export type ToolsetReleaseEventRow = Selectable<ToolsetReleaseEventsTable>;
export type HttpToolDefinitionRow = Selectable<HttpToolDefinitionsTable>;
export type PromptTemplateRow = Selectable<PromptTemplatesTable>;
/** One immutable variation version as stored. */
export type ToolVariationRow = Selectable<ToolVariationsTable>;
