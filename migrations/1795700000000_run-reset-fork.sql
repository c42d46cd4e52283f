-- Up Migration
-- Reset (below) and fork (at the end).
-- A run reset in Temporal (Web UI or `temporal workflow reset`) goes on in a new execution
-- from an earlier point of its history. Its calls carry an epoch (the new execution's run
-- id), and the first one reopens the run here, once per epoch: the record back to
-- running, and a reservation the first execution already closed taken again, as much as
-- the run first reserved, from the user's balance. The re-executed steps then hold and
-- charge under keys of their epoch: charged again, once.

ALTER TABLE agent_runs ADD COLUMN epoch text;

CREATE FUNCTION run_reopen(p_run_id text, p_epoch text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_run agent_runs;
  v_res credit_reservations;
  v_amount bigint := 0;
  v_available bigint;
BEGIN
  SELECT * INTO v_run FROM agent_runs WHERE id = p_run_id FOR UPDATE;
  IF v_run.id IS NULL THEN
    RETURN jsonb_build_object('ok', false, 'reason', 'unknown_run', 'message', format('run %s has no record', p_run_id));
  END IF;
  IF v_run.epoch IS NOT DISTINCT FROM p_epoch THEN
    RETURN jsonb_build_object('ok', true, 'reopened', false, 'status', v_run.status);
  END IF;
  SELECT * INTO v_res FROM credit_reservations WHERE run_id = p_run_id;
  IF v_res.run_id IS NOT NULL AND v_res.status <> 'active' THEN
    SELECT amount INTO v_amount FROM credit_ledger WHERE run_id = p_run_id AND kind = 'reserve' ORDER BY id LIMIT 1;
    SELECT available_credits INTO v_available FROM credit_balances WHERE user_id = v_res.user_id FOR UPDATE;
    IF coalesce(v_available, 0) < v_amount THEN
      -- Refused: reopened without a reservation, the epoch taken, so the run's closing calls
      -- pass and record how it ended (failed: insufficient_credits).
      UPDATE agent_runs
         SET epoch = p_epoch, updated_at = now(), finished_at = NULL, error = NULL, result_summary = NULL,
             status = CASE WHEN status IN ('completed','failed','cancelled') THEN 'running' ELSE status END
       WHERE id = p_run_id;
      RETURN jsonb_build_object('ok', false, 'reason', 'insufficient_credits',
        'message', format('the reset run reserves %s credits again, %s available', v_amount, coalesce(v_available, 0)));
    END IF;
    UPDATE credit_balances
       SET available_credits = available_credits - v_amount, reserved_credits = reserved_credits + v_amount, updated_at = now()
     WHERE user_id = v_res.user_id;
    -- What was charged stays charged; the reservation starts again from it, so closing it
    -- returns what this epoch did not use.
    UPDATE credit_reservations SET reserved = charged + v_amount, status = 'active', updated_at = now() WHERE run_id = p_run_id;
    INSERT INTO credit_ledger (user_id, run_id, kind, amount, available_delta, reserved_delta, idempotency_key, note)
    VALUES (v_res.user_id, p_run_id, 'reserve', v_amount, -v_amount, v_amount, format('reserve:%s@%s', p_run_id, p_epoch), 'reset');
  END IF;
  UPDATE agent_runs
     SET epoch = p_epoch, updated_at = now(),
         status = CASE WHEN status IN ('completed','failed','cancelled') THEN 'running' ELSE status END,
         finished_at = NULL, error = NULL, result_summary = NULL
   WHERE id = p_run_id;
  RETURN jsonb_build_object('ok', true, 'reopened', true, 'previous', v_run.status, 'reserved', v_amount);
END $$;

REVOKE ALL ON FUNCTION run_reopen(text, text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION run_reopen(text, text) TO service_role;

-- A fork (POST /v1/runs/:id/fork) is audited on the run it was made from, as a retry is.
ALTER TABLE agent_audit DROP CONSTRAINT agent_audit_action_check;
ALTER TABLE agent_audit ADD CONSTRAINT agent_audit_action_check
  CHECK (action IN ('approve','reject','pause','resume','message','cancel','retry','fork'));

-- Down Migration
ALTER TABLE agent_audit DROP CONSTRAINT agent_audit_action_check;
ALTER TABLE agent_audit ADD CONSTRAINT agent_audit_action_check
  CHECK (action IN ('approve','reject','pause','resume','message','cancel','retry'));
DROP FUNCTION IF EXISTS run_reopen(text, text);
ALTER TABLE agent_runs DROP COLUMN IF EXISTS epoch;
