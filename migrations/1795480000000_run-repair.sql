-- Up Migration
-- Repair of run records left `queued` without a workflow: an API process that stopped
-- between admitting a run (run_admit) and starting its workflow leaves such a record,
-- and it would count against the user's active-run limit for ever. The API lists the
-- records queued for longer than a grace period, asks Temporal about each, and fails
-- those that have no workflow (run_fail_stale), only if they are still queued and stale.

CREATE FUNCTION run_list_stale_queued(p_older_than_s integer, p_limit integer)
RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'user_id', user_id, 'updated_at', updated_at) ORDER BY updated_at), '[]'::jsonb)
  FROM (SELECT id, user_id, updated_at FROM agent_runs
         WHERE status = 'queued' AND updated_at < now() - make_interval(secs => p_older_than_s)
         ORDER BY updated_at LIMIT p_limit) stale
$$;

-- Fails one stale queued record with p_error; {"ok":true,"failed":false} when it moved on meanwhile.
CREATE FUNCTION run_fail_stale(p_id text, p_older_than_s integer, p_error jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  UPDATE agent_runs SET status = 'failed', error = p_error, finished_at = now(), updated_at = now()
   WHERE id = p_id AND status = 'queued' AND updated_at < now() - make_interval(secs => p_older_than_s);
  RETURN jsonb_build_object('ok', true, 'failed', FOUND);
END $$;

CREATE INDEX agent_runs_queued_updated ON agent_runs (updated_at) WHERE status = 'queued';

REVOKE ALL ON FUNCTION run_list_stale_queued(integer, integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION run_list_stale_queued(integer, integer) TO service_role;
REVOKE ALL ON FUNCTION run_fail_stale(text, integer, jsonb) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION run_fail_stale(text, integer, jsonb) TO service_role;

-- Down Migration
DROP INDEX IF EXISTS agent_runs_queued_updated;
DROP FUNCTION IF EXISTS run_fail_stale(text, integer, jsonb);
DROP FUNCTION IF EXISTS run_list_stale_queued(integer, integer);
