-- Up Migration
-- A step's result record in the database, written by the call that records the step's end
-- (issue 13: fewer requests per step). It was an S3 object (s3Keys.stepRecord) PUT beside
-- that call: one request more per step (about 3 ms of CPU between the worker and MinIO),
-- and two writes that could part. Now the step's row, its charge and its record commit
-- together. A record over the worker's size limit, and the records of steps that ended
-- before this migration, are still S3 objects: readers look here first, then there.
--
-- Keyed like the objects: by run, step and the reset epoch of the execution that ran the
-- step ('' for a run's first execution). The first record of a key stays: its presence
-- means the step's effects happened, and a replayed end never rewrites it.
--
-- The record is JSON kept as text, exactly as the worker wrote it: it carries what tools
-- printed, and jsonb refuses some of what they print (a NUL, \u0000, as in /proc/*/cmdline;
-- an unpaired surrogate where a tail was cut) — a step ending with it would retry forever.

CREATE TABLE agent_step_results (
  run_id     text        NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
  step_index integer     NOT NULL CHECK (step_index >= 0),
  epoch      text        NOT NULL DEFAULT '',
  user_id    text        NOT NULL,
  record     text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, step_index, epoch)
);

-- step_record and step_finish take the record (and its epoch) as two more arguments, both
-- defaulting to NULL: a worker of the version before calls them as it did.
DROP FUNCTION step_finish(text, integer, text, text, jsonb, text, integer, text, integer, text, bigint, bigint, text);
DROP FUNCTION step_record(text, integer, text, text, jsonb, text, integer, text, integer);

CREATE FUNCTION step_record(p_run_id text, p_step_index integer, p_user_id text, p_tool text, p_input jsonb,
                            p_status text, p_attempt integer, p_output_summary text DEFAULT NULL, p_duration_ms integer DEFAULT NULL,
                            p_epoch text DEFAULT NULL, p_record text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO agent_steps AS s (run_id, step_index, user_id, tool, input, status, attempts, output_summary, duration_ms, finished_at)
  VALUES (p_run_id, p_step_index, p_user_id, p_tool, coalesce(p_input, '{}'::jsonb), p_status, greatest(p_attempt, 1),
          p_output_summary, p_duration_ms, CASE WHEN p_status = 'running' THEN NULL ELSE now() END)
  ON CONFLICT (run_id, step_index) DO UPDATE SET
    status = CASE WHEN s.status <> 'running' AND excluded.status = 'running' THEN s.status ELSE excluded.status END,
    attempts = greatest(s.attempts, excluded.attempts),
    output_summary = coalesce(excluded.output_summary, s.output_summary),
    duration_ms = coalesce(excluded.duration_ms, s.duration_ms),
    finished_at = coalesce(s.finished_at, excluded.finished_at);
  IF p_record IS NOT NULL THEN
    IF p_status = 'running' THEN
      RAISE EXCEPTION 'step_record: a running step has no result record yet' USING ERRCODE = '22023';
    END IF;
    INSERT INTO agent_step_results (run_id, step_index, epoch, user_id, record)
    VALUES (p_run_id, p_step_index, coalesce(p_epoch, ''), p_user_id, p_record)
    ON CONFLICT DO NOTHING;
  END IF;
  RETURN jsonb_build_object('ok', true);
END $$;

CREATE FUNCTION step_finish(p_run_id text, p_step_index integer, p_user_id text, p_tool text, p_input jsonb, p_status text,
                            p_attempt integer, p_output_summary text, p_duration_ms integer,
                            p_hold_key text, p_amount bigint, p_tokens bigint, p_charge_key text,
                            p_epoch text DEFAULT NULL, p_record text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  IF p_status NOT IN ('completed', 'failed') THEN
    RAISE EXCEPTION 'step_finish: status must be completed or failed, not %', p_status USING ERRCODE = '22023';
  END IF;
  PERFORM step_record(p_run_id, p_step_index, p_user_id, p_tool, p_input, p_status, p_attempt, p_output_summary, p_duration_ms, p_epoch, p_record);
  RETURN credit_settle_hold(p_hold_key, p_amount, p_tokens, p_charge_key);
END $$;

-- A step's result record, or NULL when the database holds none (see above: then S3 may).
CREATE FUNCTION step_result(p_run_id text, p_step_index integer, p_epoch text DEFAULT NULL)
RETURNS text LANGUAGE sql STABLE AS $$
  SELECT record FROM agent_step_results WHERE run_id = p_run_id AND step_index = p_step_index AND epoch = coalesce(p_epoch, '')
$$;

REVOKE ALL ON FUNCTION step_record(text, integer, text, text, jsonb, text, integer, text, integer, text, text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION step_record(text, integer, text, text, jsonb, text, integer, text, integer, text, text) TO service_role;
REVOKE ALL ON FUNCTION step_finish(text, integer, text, text, jsonb, text, integer, text, integer, text, bigint, bigint, text, text, text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION step_finish(text, integer, text, text, jsonb, text, integer, text, integer, text, bigint, bigint, text, text, text) TO service_role;
REVOKE ALL ON FUNCTION step_result(text, integer, text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION step_result(text, integer, text) TO service_role;

ALTER TABLE agent_step_results ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON agent_step_results FROM PUBLIC, anon, authenticated;
GRANT SELECT ON agent_step_results TO authenticated;
GRANT ALL ON agent_step_results TO service_role;
CREATE POLICY own_step_results ON agent_step_results FOR SELECT TO authenticated USING (user_id = agentrun_current_user_id());

-- Down Migration
DROP FUNCTION IF EXISTS step_result(text, integer, text);
DROP FUNCTION IF EXISTS step_finish(text, integer, text, text, jsonb, text, integer, text, integer, text, bigint, bigint, text, text, text);
DROP FUNCTION IF EXISTS step_record(text, integer, text, text, jsonb, text, integer, text, integer, text, text);
CREATE FUNCTION step_record(p_run_id text, p_step_index integer, p_user_id text, p_tool text, p_input jsonb,
                            p_status text, p_attempt integer, p_output_summary text DEFAULT NULL, p_duration_ms integer DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO agent_steps AS s (run_id, step_index, user_id, tool, input, status, attempts, output_summary, duration_ms, finished_at)
  VALUES (p_run_id, p_step_index, p_user_id, p_tool, coalesce(p_input, '{}'::jsonb), p_status, greatest(p_attempt, 1),
          p_output_summary, p_duration_ms, CASE WHEN p_status = 'running' THEN NULL ELSE now() END)
  ON CONFLICT (run_id, step_index) DO UPDATE SET
    status = CASE WHEN s.status <> 'running' AND excluded.status = 'running' THEN s.status ELSE excluded.status END,
    attempts = greatest(s.attempts, excluded.attempts),
    output_summary = coalesce(excluded.output_summary, s.output_summary),
    duration_ms = coalesce(excluded.duration_ms, s.duration_ms),
    finished_at = coalesce(s.finished_at, excluded.finished_at);
  RETURN jsonb_build_object('ok', true);
END $$;
CREATE FUNCTION step_finish(p_run_id text, p_step_index integer, p_user_id text, p_tool text, p_input jsonb, p_status text,
                            p_attempt integer, p_output_summary text, p_duration_ms integer,
                            p_hold_key text, p_amount bigint, p_tokens bigint, p_charge_key text)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  IF p_status NOT IN ('completed', 'failed') THEN
    RAISE EXCEPTION 'step_finish: status must be completed or failed, not %', p_status USING ERRCODE = '22023';
  END IF;
  PERFORM step_record(p_run_id, p_step_index, p_user_id, p_tool, p_input, p_status, p_attempt, p_output_summary, p_duration_ms);
  RETURN credit_settle_hold(p_hold_key, p_amount, p_tokens, p_charge_key);
END $$;
REVOKE ALL ON FUNCTION step_record(text, integer, text, text, jsonb, text, integer, text, integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION step_record(text, integer, text, text, jsonb, text, integer, text, integer) TO service_role;
REVOKE ALL ON FUNCTION step_finish(text, integer, text, text, jsonb, text, integer, text, integer, text, bigint, bigint, text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION step_finish(text, integer, text, text, jsonb, text, integer, text, integer, text, bigint, bigint, text) TO service_role;
DROP TABLE IF EXISTS agent_step_results;
