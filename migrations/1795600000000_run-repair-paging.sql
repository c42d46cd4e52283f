-- Up Migration
-- The repair of stale queued records pages through them (keyset: updated_at, then id).
-- With only the oldest page, a flood of runs legitimately queued behind busy workers
-- (their workflows exist, so repair leaves them) hid every newer record an interrupted
-- start left behind: it held its user's place until the flood drained.

CREATE FUNCTION run_list_stale_queued_after(p_older_than_s integer, p_limit integer, p_after_updated timestamptz, p_after_id text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'user_id', user_id, 'updated_at', updated_at) ORDER BY updated_at, id), '[]'::jsonb)
  FROM (SELECT id, user_id, updated_at FROM agent_runs
         WHERE status = 'queued' AND updated_at < now() - make_interval(secs => p_older_than_s)
           AND (p_after_updated IS NULL OR (updated_at, id) > (p_after_updated, p_after_id))
         ORDER BY updated_at, id LIMIT p_limit) stale
$$;

REVOKE ALL ON FUNCTION run_list_stale_queued_after(integer, integer, timestamptz, text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION run_list_stale_queued_after(integer, integer, timestamptz, text) TO service_role;

-- Down Migration
DROP FUNCTION IF EXISTS run_list_stale_queued_after(integer, integer, timestamptz, text);
