-- Integrity and ordering for releases, added before anything writes them.
-- Frozen once landed: never edit it, add a new migration instead.

-- A toolset's current release must be one of its own releases, not merely some
-- release. NOT VALID: every existing row has a null current_release_id (nothing
-- wrote releases before this migration), so there is nothing to check, and the
-- constraint holds for every write from now on without scanning toolsets.
ALTER TABLE toolset_releases ADD CONSTRAINT toolset_releases_toolset_id_id_key UNIQUE (toolset_id, id);
ALTER TABLE toolsets
  ADD CONSTRAINT toolsets_current_release_own_fk FOREIGN KEY (id, current_release_id)
  REFERENCES toolset_releases (toolset_id, id) ON DELETE RESTRICT NOT VALID;

-- uuidv7 ids order by millisecond only; events of one toolset are serialized by
-- the toolset's row lock, so their clock_timestamp() gives the true order.
DROP INDEX toolset_release_events_toolset_idx;
CREATE INDEX toolset_release_events_toolset_time_idx ON toolset_release_events (toolset_id, created_at DESC, id DESC);
