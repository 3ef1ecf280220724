-- migrate:no-transaction
-- For the change feed (migration 0005): a variation group's change names the
-- toolset that owns it, found by toolsets.tool_variations_group_id, which every
-- variation edit's trigger asks; without this index, a scan of toolsets per edit.
-- toolsets may be large on an existing database: build it without blocking writes.
-- Frozen once landed: never edit it, add a new migration instead.
CREATE INDEX CONCURRENTLY IF NOT EXISTS toolsets_tool_variations_group_idx
  ON toolsets (tool_variations_group_id) WHERE tool_variations_group_id IS NOT NULL;
