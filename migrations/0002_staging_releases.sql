-- Staging and releases. Existing toolsets come out in iteration mode at version 1
-- and keep working; existing variations become version 1 of their group.
-- Frozen once landed: never edit it, add a new migration instead.

-- Variation groups: every change writes an immutable group version; the group row
-- only points at its newest one.
CREATE TABLE tool_variations_group_versions (
  id uuid PRIMARY KEY DEFAULT generate_uuidv7(),
  group_id uuid NOT NULL REFERENCES tool_variations_groups (id) ON DELETE RESTRICT,
  version bigint NOT NULL CHECK (version > 0),
  variation_ids uuid[] NOT NULL DEFAULT '{}',
  predecessor_id uuid REFERENCES tool_variations_group_versions (id) ON DELETE RESTRICT,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (group_id, version)
);
ALTER TABLE tool_variations_groups
  ADD COLUMN current_version_id uuid REFERENCES tool_variations_group_versions (id) ON DELETE RESTRICT;

-- Variations are immutable from here on: an edit writes version + 1.
ALTER TABLE tool_variations
  ADD COLUMN predecessor_id uuid REFERENCES tool_variations (id) ON DELETE RESTRICT,
  ADD COLUMN version bigint NOT NULL DEFAULT 1 CHECK (version > 0);
-- Before this migration a variation could be soft-deleted and created again for
-- the same tool: number each tool's rows in creation order and chain them.
WITH numbered AS (
  SELECT id,
         row_number() OVER w AS version,
         lag(id) OVER w AS predecessor_id
  FROM tool_variations
  WINDOW w AS (PARTITION BY group_id, src_tool_urn ORDER BY created_at, id)
)
UPDATE tool_variations v
SET version = n.version, predecessor_id = n.predecessor_id
FROM numbered n
WHERE n.id = v.id AND n.version > 1;
DROP INDEX tool_variations_group_urn_key;
CREATE UNIQUE INDEX tool_variations_group_urn_version_key ON tool_variations (group_id, src_tool_urn, version);

INSERT INTO tool_variations_group_versions (group_id, version, variation_ids)
SELECT group_id, 1, array_agg(id ORDER BY src_tool_urn)
FROM tool_variations
WHERE deleted_at IS NULL
GROUP BY group_id;
UPDATE tool_variations_groups g
SET current_version_id = v.id
FROM tool_variations_group_versions v
WHERE v.group_id = g.id;

-- The prompt-template revisions in force at a moment, deduplicated by digest.
CREATE TABLE system_source_states (
  id uuid PRIMARY KEY DEFAULT generate_uuidv7(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE RESTRICT,
  prompt_template_ids uuid[] NOT NULL DEFAULT '{}',
  digest text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (project_id, digest)
);

-- Everything project-level a release depends on: the deployment (HTTP tools) and
-- the system source state (prompts). One row per distinct pair.
CREATE TABLE source_states (
  id uuid PRIMARY KEY DEFAULT generate_uuidv7(),
  project_id uuid NOT NULL REFERENCES projects (id) ON DELETE RESTRICT,
  deployment_id uuid REFERENCES deployments (id) ON DELETE RESTRICT,
  system_source_state_id uuid NOT NULL REFERENCES system_source_states (id) ON DELETE RESTRICT,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE NULLS NOT DISTINCT (project_id, deployment_id, system_source_state_id)
);

-- Toolset versions now snapshot the metadata an MCP client sees, too (null on
-- rows written before this migration).
ALTER TABLE toolset_versions
  ADD COLUMN name text,
  ADD COLUMN description text,
  ADD COLUMN mcp_slug text,
  ADD COLUMN mcp_enabled boolean,
  ADD COLUMN mcp_is_public boolean;

ALTER TABLE toolsets
  ADD COLUMN parent_toolset_id uuid REFERENCES toolsets (id) ON DELETE RESTRICT,
  ADD COLUMN editing_mode text NOT NULL DEFAULT 'iteration' CHECK (editing_mode IN ('iteration', 'staging')),
  ADD COLUMN current_release_id uuid,
  ADD COLUMN last_release_number bigint NOT NULL DEFAULT 0 CHECK (last_release_number >= 0),
  ADD COLUMN predecessor_id uuid REFERENCES toolset_versions (id) ON DELETE RESTRICT,
  ADD COLUMN version bigint NOT NULL DEFAULT 1 CHECK (version > 0),
  ADD COLUMN history_id uuid,
  ADD COLUMN tool_variations_group_id uuid REFERENCES tool_variations_groups (id) ON DELETE RESTRICT;
UPDATE toolsets SET history_id = id WHERE history_id IS NULL;

-- Every toolset gets a snapshot of its current state, metadata included. A
-- toolset without snapshots comes out at version 1; one that had snapshots keeps
-- their numbers and continues after the newest, so versions stay unique.
UPDATE toolsets t
SET version = COALESCE((SELECT max(v.version) FROM toolset_versions v WHERE v.toolset_id = t.id), 0) + 1;
INSERT INTO toolset_versions (toolset_id, version, tool_urns, resource_urns, prompt_template_names, predecessor_id,
                              name, description, mcp_slug, mcp_enabled, mcp_is_public)
SELECT t.id, t.version, t.tool_urns, t.resource_urns, t.prompt_template_names,
       (SELECT v.id FROM toolset_versions v WHERE v.toolset_id = t.id ORDER BY v.version DESC LIMIT 1),
       t.name, t.description, t.mcp_slug, t.mcp_enabled, t.mcp_is_public
FROM toolsets t;
UPDATE toolsets t
SET predecessor_id = v.id
FROM toolset_versions v
WHERE v.toolset_id = t.id AND v.version = t.version;
ALTER TABLE toolsets
  ALTER COLUMN history_id SET NOT NULL,
  ADD CONSTRAINT toolsets_staging_copy_mode CHECK (parent_toolset_id IS NULL OR editing_mode = 'iteration');

-- A release: an immutable, numbered capture of everything the endpoint serves.
CREATE TABLE toolset_releases (
  id uuid PRIMARY KEY DEFAULT generate_uuidv7(),
  toolset_id uuid NOT NULL REFERENCES toolsets (id) ON DELETE RESTRICT,
  release_number bigint NOT NULL CHECK (release_number > 0),
  notes text NOT NULL DEFAULT '',
  released_by text NOT NULL,
  released_by_key_id uuid,
  idempotency_key text,
  source_state_id uuid NOT NULL REFERENCES source_states (id) ON DELETE RESTRICT,
  toolset_version_id uuid NOT NULL REFERENCES toolset_versions (id) ON DELETE RESTRICT,
  global_variations_version_id uuid REFERENCES tool_variations_group_versions (id) ON DELETE RESTRICT,
  toolset_variations_version_id uuid REFERENCES tool_variations_group_versions (id) ON DELETE RESTRICT,
  etag text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (toolset_id, release_number)
);
CREATE UNIQUE INDEX toolset_releases_idempotency_key ON toolset_releases (toolset_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
ALTER TABLE toolsets
  ADD CONSTRAINT toolsets_current_release_fk FOREIGN KEY (current_release_id)
  REFERENCES toolset_releases (id) ON DELETE RESTRICT;

-- Append-only log of every move of a live pointer.
CREATE TABLE toolset_release_events (
  id uuid PRIMARY KEY DEFAULT generate_uuidv7(),
  toolset_id uuid NOT NULL REFERENCES toolsets (id) ON DELETE RESTRICT,
  kind text NOT NULL CHECK (kind IN ('published', 'rolled_back', 'mode_switched')),
  actor text NOT NULL,
  actor_key_id uuid,
  from_release_id uuid REFERENCES toolset_releases (id) ON DELETE RESTRICT,
  to_release_id uuid REFERENCES toolset_releases (id) ON DELETE RESTRICT,
  notes text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX toolset_release_events_toolset_idx ON toolset_release_events (toolset_id, id DESC);
