-- Up Migration
-- A paid step's rows in two calls instead of four (issue 13: fewer round trips per step):
-- step_begin holds the step's maximum cost and, when the hold is granted, records the step
-- as running, in one transaction; step_finish records the step's end and settles its hold.
-- Each is what its two parts were, called in order: idempotent by the same keys (a retried
-- attempt's hold is replayed, a finished step is never set back to running, a settled hold
-- answers with what it was settled at).

CREATE FUNCTION step_begin(p_run_id text, p_step_index integer, p_user_id text, p_tool text, p_input jsonb, p_attempt integer,
                           p_amount bigint, p_tokens bigint, p_hold_key text, p_default_daily bigint, p_default_monthly bigint)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_hold jsonb;
BEGIN
  v_hold := credit_hold(p_run_id, p_step_index, p_amount, p_tokens, p_hold_key, p_default_daily, p_default_monthly);
  IF (v_hold->>'ok')::boolean THEN
    PERFORM step_record(p_run_id, p_step_index, p_user_id, p_tool, p_input, 'running', p_attempt);
  END IF;
  RETURN v_hold;
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

REVOKE ALL ON FUNCTION step_begin(text, integer, text, text, jsonb, integer, bigint, bigint, text, bigint, bigint) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION step_begin(text, integer, text, text, jsonb, integer, bigint, bigint, text, bigint, bigint) TO service_role;
REVOKE ALL ON FUNCTION step_finish(text, integer, text, text, jsonb, text, integer, text, integer, text, bigint, bigint, text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION step_finish(text, integer, text, text, jsonb, text, integer, text, integer, text, bigint, bigint, text) TO service_role;

-- Down Migration
DROP FUNCTION IF EXISTS step_begin(text, integer, text, text, jsonb, integer, bigint, bigint, text, bigint, bigint),
  step_finish(text, integer, text, text, jsonb, text, integer, text, integer, text, bigint, bigint, text);
