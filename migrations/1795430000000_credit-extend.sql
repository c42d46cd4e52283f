-- Up Migration
-- Extends an active run reservation (a human approved more budget for a run that ran out).
CREATE FUNCTION credit_extend(p_run_id text, p_amount bigint, p_idempotency_key text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_user text;
  v_res credit_reservations;
  v_available bigint;
BEGIN
  SELECT user_id INTO v_user FROM credit_reservations WHERE run_id = p_run_id;
  IF v_user IS NULL THEN
    RETURN agentrun_credit_refusal(NULL, 'no_reservation', format('run %s has no credit reservation', p_run_id));
  END IF;
  SELECT available_credits INTO v_available FROM credit_balances WHERE user_id = v_user FOR UPDATE;
  IF EXISTS (SELECT 1 FROM credit_ledger WHERE idempotency_key = p_idempotency_key) THEN
    RETURN agentrun_credit_result(v_user, true);
  END IF;
  SELECT * INTO v_res FROM credit_reservations WHERE run_id = p_run_id;
  IF v_res.status <> 'active' THEN
    RETURN agentrun_credit_refusal(v_user, 'reservation_closed', format('run %s reservation is %s', p_run_id, v_res.status));
  END IF;
  IF p_amount IS NULL OR p_amount <= 0 THEN
    RETURN agentrun_credit_refusal(v_user, 'invalid_amount', 'amount must be positive');
  END IF;
  IF v_available < p_amount THEN
    RETURN agentrun_credit_refusal(v_user, 'insufficient_credits', format('%s credits needed, %s available', p_amount, v_available));
  END IF;
  UPDATE credit_balances
     SET available_credits = available_credits - p_amount, reserved_credits = reserved_credits + p_amount, updated_at = now()
   WHERE user_id = v_user;
  UPDATE credit_reservations SET reserved = reserved + p_amount, updated_at = now() WHERE run_id = p_run_id;
  INSERT INTO credit_ledger (user_id, run_id, kind, amount, available_delta, reserved_delta, idempotency_key, note)
  VALUES (v_user, p_run_id, 'reserve', p_amount, -p_amount, p_amount, p_idempotency_key, 'extension');
  RETURN agentrun_credit_result(v_user, false, jsonb_build_object('run_reserved', v_res.reserved + p_amount, 'run_charged', v_res.charged));
END $$;
REVOKE ALL ON FUNCTION credit_extend(text, bigint, text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION credit_extend(text, bigint, text) TO service_role;

-- Down Migration
DROP FUNCTION IF EXISTS credit_extend(text, bigint, text);
