-- Up Migration
-- Admission of a run under a per-user limit of active runs, and an index for listing
-- a user's runs newest first (run ids sort by creation time).

CREATE INDEX agent_runs_user_id_desc ON agent_runs (user_id, id DESC);

-- Creates the run record as `queued` (or moves a `created` record of the same user to
-- `queued`) unless the user already has p_max_active runs that have not ended. The
-- user's advisory lock serialises concurrent admissions, so the limit is exact.
-- Refusals are results: {"ok":false,"reason":"too_many_active_runs","active":n}.
CREATE FUNCTION run_admit(p_id text, p_user_id text, p_prompt text, p_priority smallint, p_max_active integer)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_active integer;
  v_existing agent_runs;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('agentrun:run-admission:' || p_user_id, 0));
  SELECT * INTO v_existing FROM agent_runs WHERE id = p_id;
  IF FOUND THEN
    IF v_existing.user_id <> p_user_id THEN
      RETURN jsonb_build_object('ok', false, 'reason', 'not_found', 'message', format('run %s has no record of this user', p_id));
    END IF;
    IF v_existing.status <> 'created' THEN
      RETURN jsonb_build_object('ok', true, 'created', false, 'status', v_existing.status);
    END IF;
  END IF;
  SELECT count(*) INTO v_active FROM agent_runs
   WHERE user_id = p_user_id AND id <> p_id AND status IN ('queued','planning','awaiting_approval','running','paused');
  IF p_max_active IS NOT NULL AND v_active >= p_max_active THEN
    RETURN jsonb_build_object('ok', false, 'reason', 'too_many_active_runs', 'active', v_active,
      'message', format('%s runs are still going (the limit is %s)', v_active, p_max_active));
  END IF;
  IF v_existing.id IS NOT NULL THEN
    UPDATE agent_runs SET status = 'queued', updated_at = now() WHERE id = p_id;
    RETURN jsonb_build_object('ok', true, 'created', false, 'status', 'queued');
  END IF;
  INSERT INTO agent_runs (id, user_id, prompt, priority, status) VALUES (p_id, p_user_id, p_prompt, p_priority, 'queued');
  RETURN jsonb_build_object('ok', true, 'created', true, 'status', 'queued');
END $$;
REVOKE ALL ON FUNCTION run_admit(text, text, text, smallint, integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION run_admit(text, text, text, smallint, integer) TO service_role;

-- Down Migration
DROP FUNCTION IF EXISTS run_admit(text, text, text, smallint, integer);
DROP INDEX IF EXISTS agent_runs_user_id_desc;
