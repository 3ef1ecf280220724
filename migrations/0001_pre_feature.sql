-- Pre-feature schema: tenancy, deployments and their tool definitions, prompt
-- templates, toolsets and tool variations as they were before staging/releases.
-- Frozen once landed: never edit it, add a new migration instead.

-- uuidv7 (RFC 9562): 48-bit unix-millisecond timestamp, version 7, variant 10,
-- random rest (taken from gen_random_uuid(), core since PostgreSQL 13). Written in
-- SQL so it works on PostgreSQL 15-18; uuidv7() is built in only from 18.
CREATE FUNCTION generate_uuidv7() RETURNS uuid
LANGUAGE plpgsql VOLATILE PARALLEL SAFE AS $$
DECLARE
  ts_ms bigint := floor(extract(epoch FROM clock_timestamp()) * 1000);
  bytes bytea := uuid_send(gen_random_uuid());
BEGIN
  bytes := overlay(bytes PLACING substring(int8send(ts_ms) FROM 3) FROM 1 FOR 6);
  bytes := set_byte(bytes, 6, (get_byte(bytes, 6) & 15) | 112);
  bytes := set_byte(bytes, 8, (get_byte(bytes, 8) & 63) | 128);
  RETURN encode(bytes, 'hex')::uuid;
END
$$;

CREATE TABLE organizations (
  id uuid PRIMARY KEY DEFAULT generate_uuidv7(),
  slug text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 128),
  features text[] NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  deleted_at timestamptz
);
CREATE UNIQUE INDEX organizations_slug_key ON organizations (slug) WHERE deleted_at IS NULL;

CREATE TABLE projects (
  id uuid PRIMARY KEY DEFAULT generate_uuidv7(),
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE RESTRICT,
  slug text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 128),
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  deleted_at timestamptz
);
CREATE UNIQUE INDEX projects_org_slug_key ON projects (organization_id, slug) WHERE deleted_at IS NULL;

-- Only the SHA-256 of a key is stored, with a short prefix to tell keys apart.
CREATE TABLE api_keys (
  id uuid PRIMARY KEY DEFAULT generate_uuidv7(),
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE RESTRICT,
  project_id uuid REFERENCES projects (id) ON DELETE RESTRICT,
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 128),
  scope text NOT NULL CHECK (scope IN ('producer', 'consumer')),
  key_hash bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
  display_prefix text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  revoked_at timestamptz
);
CREATE UNIQUE INDEX api_keys_org_name_key ON api_keys (organization_id, name) WHERE revoked_at IS NULL;

CREATE TABLE deployments (
  id uuid PRIMARY KEY DEFAULT generate_uuidv7(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE RESTRICT,
  seq bigint NOT NULL CHECK (seq > 0),
  idempotency_key text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (project_id, seq)
);
CREATE UNIQUE INDEX deployments_project_idempotency_key ON deployments (project_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

CREATE TABLE http_tool_definitions (
  id uuid PRIMARY KEY DEFAULT generate_uuidv7(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE RESTRICT,
  deployment_id uuid NOT NULL REFERENCES deployments (id) ON DELETE RESTRICT,
  tool_urn text NOT NULL,
  source text NOT NULL,
  name text NOT NULL,
  summary text NOT NULL DEFAULT '',
  description text NOT NULL DEFAULT '',
  http_method text NOT NULL,
  path text NOT NULL,
  server_url text NOT NULL DEFAULT '',
  input_schema jsonb NOT NULL DEFAULT '{}',
  tags text[] NOT NULL DEFAULT '{}',
  read_only_hint boolean,
  destructive_hint boolean,
  idempotent_hint boolean,
  open_world_hint boolean,
  title text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (deployment_id, tool_urn)
);

CREATE TABLE prompt_templates (
  id uuid PRIMARY KEY DEFAULT generate_uuidv7(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE RESTRICT,
  history_id uuid NOT NULL,
  predecessor_id uuid REFERENCES prompt_templates (id) ON DELETE RESTRICT,
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  prompt text NOT NULL DEFAULT '',
  arguments jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  deleted_at timestamptz
);
CREATE INDEX prompt_templates_project_name_idx ON prompt_templates (project_id, name, created_at DESC);

CREATE TABLE toolsets (
  id uuid PRIMARY KEY DEFAULT generate_uuidv7(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE RESTRICT,
  slug text NOT NULL,
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  tool_urns text[] NOT NULL DEFAULT '{}',
  resource_urns text[] NOT NULL DEFAULT '{}',
  prompt_template_names text[] NOT NULL DEFAULT '{}',
  mcp_slug text,
  mcp_enabled boolean NOT NULL DEFAULT false,
  mcp_is_public boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  deleted_at timestamptz
);
CREATE UNIQUE INDEX toolsets_project_slug_key ON toolsets (project_id, slug) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX toolsets_project_mcp_slug_key ON toolsets (project_id, mcp_slug)
  WHERE deleted_at IS NULL AND mcp_slug IS NOT NULL;

-- Snapshots of a toolset's selection, one per change.
CREATE TABLE toolset_versions (
  id uuid PRIMARY KEY DEFAULT generate_uuidv7(),
  toolset_id uuid NOT NULL REFERENCES toolsets (id) ON DELETE RESTRICT,
  version bigint NOT NULL,
  tool_urns text[] NOT NULL DEFAULT '{}',
  resource_urns text[] NOT NULL DEFAULT '{}',
  prompt_template_names text[] NOT NULL DEFAULT '{}',
  predecessor_id uuid REFERENCES toolset_versions (id) ON DELETE RESTRICT,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (toolset_id, version)
);

CREATE TABLE tool_variations_groups (
  id uuid PRIMARY KEY DEFAULT generate_uuidv7(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE RESTRICT,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The project's global variation group.
CREATE TABLE project_tool_variations (
  project_id uuid PRIMARY KEY REFERENCES projects (id) ON DELETE RESTRICT,
  group_id uuid NOT NULL UNIQUE REFERENCES tool_variations_groups (id) ON DELETE RESTRICT,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Per-tool overrides; a null column inherits from the source definition.
CREATE TABLE tool_variations (
  id uuid PRIMARY KEY DEFAULT generate_uuidv7(),
  group_id uuid NOT NULL REFERENCES tool_variations_groups (id) ON DELETE RESTRICT,
  src_tool_urn text NOT NULL,
  name text,
  description text,
  summary text,
  title text,
  confirm boolean,
  confirm_prompt text,
  summarizer text,
  tags text[],
  read_only_hint boolean,
  destructive_hint boolean,
  idempotent_hint boolean,
  open_world_hint boolean,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  deleted_at timestamptz
);
CREATE UNIQUE INDEX tool_variations_group_urn_key ON tool_variations (group_id, src_tool_urn) WHERE deleted_at IS NULL;
