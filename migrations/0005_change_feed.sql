-- The change feed (DESIGN §9): every transaction that can change what a target
-- of a toolset resolves to, or who may see it, sends pg_notify('toolset_changes')
-- from inside itself, so the notice goes out exactly at commit and never for a
-- rollback. Triggers, not application code, so no write path can forget it: every
-- table whose rows feed resolution or access has one per event (INSERT, UPDATE,
-- DELETE, TRUNCATE). Only a superuser (session_replication_role = replica) or the
-- tables' owner (ALTER TABLE ... DISABLE TRIGGER) can switch them off.
-- Frozen once landed: never edit it, add a new migration instead.
--
-- Statement-level AFTER triggers with transition tables: a statement costs one
-- set-based query over the rows it changed (a deployment of 5,000 tools, one
-- query), not one lookup per row. PostgreSQL allows transition tables only on
-- single-event triggers, hence one trigger per event; TRUNCATE has no transition
-- table and fires BEFORE, while the rows still tell whom they belonged to.
--
-- Payloads are compact JSON, one of (ids are uuids; field order fixed):
--   {"s":"organization","o":O,"at":MS}          an organization row changed
--   {"s":"project","o":O,"p":P,"at":MS}         a project row changed
--   {"s":"key","o":O,"k":K,"at":MS}             an API key changed
--   {"s":"sources","o":O,"p":P,"at":MS}         project-wide sources changed
--   {"s":"toolset","o":O,"p":P,"t":T,"at":MS}   a toolset (T = the LIVE toolset) or anything of it changed
-- MS is the transaction's start in integer milliseconds since the epoch, the
-- same for every notice of a transaction: PostgreSQL delivers equal payloads of
-- one transaction once, so a publish that writes a hundred rows of one toolset
-- sends one notice. A payload never has a null organization.

-- The payload of one change; NULL when `o` is NULL (never sent).
CREATE FUNCTION change_feed_payload(s text, o uuid, p uuid DEFAULT NULL, t uuid DEFAULT NULL, k uuid DEFAULT NULL)
RETURNS text LANGUAGE sql STABLE AS $$
  SELECT '{"s":"' || s || '","o":"' || o || '"'
      || coalesce(',"p":"' || p || '"', '')
      || coalesce(',"t":"' || t || '"', '')
      || coalesce(',"k":"' || k || '"', '')
      || ',"at":' || floor(extract(epoch FROM transaction_timestamp()) * 1000)::bigint
      || '}'
$$;

-- TRUNCATE (an operator's act, never the service's): everything of every
-- organization is suspect. BEFORE, so that a TRUNCATE of organizations itself
-- (or one cascading to it) still finds them; a TRUNCATE that fails rolls the
-- notices back with it.
CREATE FUNCTION change_feed_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('toolset_changes', change_feed_payload('organization', o.id)) FROM organizations o;
  RETURN NULL;
END
$$;

-- Every table of the schema but schema_migrations gets a trigger function of its
-- own, change_feed_<table>(), generated below with static queries (planned once
-- per session, unlike EXECUTE; `\sf change_feed_toolsets` shows one). Each turns
-- the distinct keys x(k1, k2) of the rows a statement changed into payloads, by
-- what the rows are:
--   organization         k1 = organizations.id
--   project              k1 = organization_id, k2 = projects.id
--   key                  k1 = organization_id, k2 = api_keys.id
--   sources              k1 = project_id: deployments, tool definitions, prompt
--                        templates, the project's global variation group
--   toolset_row          k1 = project_id, k2 = the live toolset: a toolsets row,
--                        live or staging copy (coalesce(parent_toolset_id, id))
--   toolset              k1 = toolset_id (live or staging copy): versions,
--                        releases, release events
--   group                k1 = a variation group: the project's global group
--                        (project_tool_variations) gives "sources", a toolset's
--                        (toolsets.tool_variations_group_id, indexed by 0006)
--                        "toolset"; a group nothing references yet gives nothing,
--                        and the row that attaches it notifies
--   source_state         k1 = source_states.id: the toolsets whose releases pin it
--   system_source_state  k1 = system_source_states.id: likewise, through source_states
-- An UPDATE counts the rows before and after, so a row moved from one project
-- (group, organization) to another notifies both.
--
-- Source states are written only by inserts (deduplicated, ON CONFLICT DO
-- NOTHING), and a row just inserted is pinned by no release yet (the foreign key
-- is not deferrable: the release that pins it comes later, and notifies), so an
-- insert changes no resolution: the two source-state tables have no INSERT
-- trigger. Their UPDATE and DELETE triggers look for pinning releases with a
-- scan of toolset_releases; only an operator's hand edit takes that path.
DO $do$
DECLARE
  r record;
  toolsets_in text := 'SELECT change_feed_payload(''toolset'', pr.organization_id, p => pr.id, t => coalesce(ts.parent_toolset_id, ts.id))'
                      ' FROM toolsets ts JOIN projects pr ON pr.id = ts.project_id WHERE ts.id IN ';
  changed text;
  query text;
  branches text[];
BEGIN
  FOR r IN
    SELECT * FROM (VALUES
      ('organizations',                  'organization',        'id',              NULL),
      ('projects',                       'project',             'organization_id', 'id'),
      ('api_keys',                       'key',                 'organization_id', 'id'),
      ('deployments',                    'sources',             'project_id',      NULL),
      ('http_tool_definitions',          'sources',             'project_id',      NULL),
      ('prompt_templates',               'sources',             'project_id',      NULL),
      ('project_tool_variations',        'sources',             'project_id',      NULL),
      ('toolsets',                       'toolset_row',         'project_id',      'coalesce(parent_toolset_id, id)'),
      ('toolset_versions',               'toolset',             'toolset_id',      NULL),
      ('toolset_releases',               'toolset',             'toolset_id',      NULL),
      ('toolset_release_events',         'toolset',             'toolset_id',      NULL),
      ('tool_variations_groups',         'group',               'id',              NULL),
      ('tool_variations_group_versions', 'group',               'group_id',        NULL),
      ('tool_variations',                'group',               'group_id',        NULL),
      ('source_states',                  'source_state',        'id',              NULL),
      ('system_source_states',           'system_source_state', 'id',              NULL)
    ) AS t (tbl, kind, key1, key2)
  LOOP
    branches := '{}';
    FOREACH changed IN ARRAY ARRAY[
      format('(SELECT DISTINCT %1$s AS k1, %2$s::uuid AS k2 FROM new_rows r)', r.key1, coalesce(r.key2, 'NULL')),
      format('(SELECT DISTINCT %1$s AS k1, %2$s::uuid AS k2 FROM old_rows r)', r.key1, coalesce(r.key2, 'NULL')),
      format('(SELECT %1$s AS k1, %2$s::uuid AS k2 FROM new_rows r UNION SELECT %1$s, %2$s::uuid FROM old_rows r)', r.key1, coalesce(r.key2, 'NULL'))
    ] LOOP
      query := CASE r.kind
        WHEN 'organization' THEN
          format('SELECT change_feed_payload(''organization'', x.k1) FROM %s AS x', changed)
        WHEN 'project' THEN
          format('SELECT change_feed_payload(''project'', x.k1, p => x.k2) FROM %s AS x', changed)
        WHEN 'key' THEN
          format('SELECT change_feed_payload(''key'', x.k1, k => x.k2) FROM %s AS x', changed)
        WHEN 'sources' THEN
          format('SELECT change_feed_payload(''sources'', pr.organization_id, p => pr.id) FROM projects pr'
                 ' WHERE pr.id IN (SELECT x.k1 FROM %s AS x)', changed)
        WHEN 'toolset_row' THEN
          format('SELECT change_feed_payload(''toolset'', pr.organization_id, p => pr.id, t => x.k2)'
                 ' FROM %s AS x JOIN projects pr ON pr.id = x.k1', changed)
        WHEN 'toolset' THEN
          toolsets_in || format('(SELECT x.k1 FROM %s AS x)', changed)
        WHEN 'group' THEN
          format('SELECT change_feed_payload(''sources'', pr.organization_id, p => pr.id)'
                 ' FROM project_tool_variations ptv JOIN projects pr ON pr.id = ptv.project_id'
                 ' WHERE ptv.group_id IN (SELECT x.k1 FROM %1$s AS x)'
                 ' UNION ALL '
                 'SELECT change_feed_payload(''toolset'', pr.organization_id, p => pr.id, t => coalesce(ts.parent_toolset_id, ts.id))'
                 ' FROM toolsets ts JOIN projects pr ON pr.id = ts.project_id'
                 ' WHERE ts.tool_variations_group_id IN (SELECT x.k1 FROM %1$s AS x)', changed)
        WHEN 'source_state' THEN
          toolsets_in || format('(SELECT rel.toolset_id FROM toolset_releases rel'
                                ' WHERE rel.source_state_id IN (SELECT x.k1 FROM %s AS x))', changed)
        WHEN 'system_source_state' THEN
          toolsets_in || format('(SELECT rel.toolset_id FROM source_states ss JOIN toolset_releases rel ON rel.source_state_id = ss.id'
                                ' WHERE ss.system_source_state_id IN (SELECT x.k1 FROM %s AS x))', changed)
      END;
      IF r.kind IN ('source_state', 'system_source_state') AND cardinality(branches) = 0 THEN
        branches := branches || 'NULL;  -- no INSERT trigger: see migration 0005'::text;
        CONTINUE;
      END IF;
      branches := branches || format(
        'PERFORM pg_notify(''toolset_changes'', c.payload)'
        ' FROM (SELECT DISTINCT q.payload FROM (%s) AS q (payload) WHERE q.payload IS NOT NULL) AS c;', query);
    END LOOP;

    EXECUTE format($f$
      CREATE FUNCTION %1$I() RETURNS trigger LANGUAGE plpgsql AS $body$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          %2$s
        ELSIF TG_OP = 'DELETE' THEN
          %3$s
        ELSE
          %4$s
        END IF;
        RETURN NULL;
      END
      $body$
    $f$, 'change_feed_' || r.tbl, branches[1], branches[2], branches[3]);
    EXECUTE format('COMMENT ON FUNCTION %I() IS %L', 'change_feed_' || r.tbl,
                   format('Change feed of %s (kind %s); generated by migration 0005_change_feed.', r.tbl, r.kind));

    IF r.kind NOT IN ('source_state', 'system_source_state') THEN
      EXECUTE format('CREATE TRIGGER change_feed_insert AFTER INSERT ON %1$I REFERENCING NEW TABLE AS new_rows'
                     ' FOR EACH STATEMENT EXECUTE FUNCTION %2$I()', r.tbl, 'change_feed_' || r.tbl);
    END IF;
    EXECUTE format('CREATE TRIGGER change_feed_update AFTER UPDATE ON %1$I REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION %2$I()', r.tbl, 'change_feed_' || r.tbl);
    EXECUTE format('CREATE TRIGGER change_feed_delete AFTER DELETE ON %1$I REFERENCING OLD TABLE AS old_rows'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION %2$I()', r.tbl, 'change_feed_' || r.tbl);
    EXECUTE format('CREATE TRIGGER change_feed_truncate BEFORE TRUNCATE ON %I'
                   ' FOR EACH STATEMENT EXECUTE FUNCTION change_feed_truncate()', r.tbl);
  END LOOP;
END
$do$;
