-- migrate:no-transaction
-- Staging copies share their parent's slug, so slug uniqueness now holds among
-- live toolsets only, and a toolset has at most one staging copy. toolsets may be
-- large on an existing database: build the indexes without blocking writes.
-- Frozen once landed: never edit it, add a new migration instead.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS toolsets_project_live_slug_key
  ON toolsets (project_id, slug) WHERE deleted_at IS NULL AND parent_toolset_id IS NULL;
DROP INDEX CONCURRENTLY IF EXISTS toolsets_project_slug_key;
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS toolsets_project_live_mcp_slug_key
  ON toolsets (project_id, mcp_slug) WHERE deleted_at IS NULL AND parent_toolset_id IS NULL AND mcp_slug IS NOT NULL;
DROP INDEX CONCURRENTLY IF EXISTS toolsets_project_mcp_slug_key;
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS toolsets_one_staging_copy_key
  ON toolsets (parent_toolset_id) WHERE deleted_at IS NULL AND parent_toolset_id IS NOT NULL;
