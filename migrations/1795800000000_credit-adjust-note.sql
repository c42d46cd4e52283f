-- Up Migration
-- An operator's adjustment replayed with its key answers the first result only when it asks
-- the same: the same user, kind and amount — and now the same note too (README: the same
-- key with another body is refused), so a note typed differently is a different request.

CREATE OR REPLACE FUNCTION credit_adjust(p_user_id text, p_amount bigint, p_idempotency_key text, p_note text, p_actor text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_prior credit_ledger;
  v_available bigint;
  v_kind text := CASE WHEN p_amount < 0 THEN 'deduct' ELSE 'grant' END;
BEGIN
  IF p_amount IS NULL OR p_amount = 0 THEN
    RETURN agentrun_credit_refusal(p_user_id, 'invalid_amount', 'amount must not be zero');
  END IF;
  SELECT available_credits INTO v_available FROM credit_balances WHERE user_id = p_user_id FOR UPDATE;
  SELECT * INTO v_prior FROM credit_ledger WHERE idempotency_key = p_idempotency_key;
  IF FOUND THEN
    IF v_prior.user_id = p_user_id AND v_prior.kind = v_kind AND v_prior.amount = abs(p_amount) AND v_prior.note IS NOT DISTINCT FROM p_note THEN
      RETURN agentrun_credit_result(p_user_id, true);
    END IF;
    RETURN agentrun_credit_refusal(p_user_id, 'idempotency_conflict',
      'this idempotency key was used for a different request; use a new key for a new adjustment');
  END IF;
  IF v_available IS NULL THEN
    RETURN agentrun_credit_refusal(p_user_id, 'unknown_user', format('no account for user %s', p_user_id));
  END IF;
  IF p_amount < 0 AND v_available < -p_amount THEN
    RETURN agentrun_credit_refusal(p_user_id, 'insufficient_credits',
      format('cannot deduct %s credits, %s available', -p_amount, v_available));
  END IF;
  UPDATE credit_balances SET available_credits = available_credits + p_amount, updated_at = now() WHERE user_id = p_user_id;
  INSERT INTO credit_ledger (user_id, kind, amount, available_delta, reserved_delta, idempotency_key, note, actor)
  VALUES (p_user_id, v_kind, abs(p_amount), p_amount, 0, p_idempotency_key, p_note, p_actor);
  RETURN agentrun_credit_result(p_user_id, false);
END $$;

-- Down Migration
CREATE OR REPLACE FUNCTION credit_adjust(p_user_id text, p_amount bigint, p_idempotency_key text, p_note text, p_actor text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_prior credit_ledger;
  v_available bigint;
  v_kind text := CASE WHEN p_amount < 0 THEN 'deduct' ELSE 'grant' END;
BEGIN
  IF p_amount IS NULL OR p_amount = 0 THEN
    RETURN agentrun_credit_refusal(p_user_id, 'invalid_amount', 'amount must not be zero');
  END IF;
  SELECT available_credits INTO v_available FROM credit_balances WHERE user_id = p_user_id FOR UPDATE;
  SELECT * INTO v_prior FROM credit_ledger WHERE idempotency_key = p_idempotency_key;
  IF FOUND THEN
    IF v_prior.user_id = p_user_id AND v_prior.kind = v_kind AND v_prior.amount = abs(p_amount) THEN
      RETURN agentrun_credit_result(p_user_id, true);
    END IF;
    RETURN agentrun_credit_refusal(p_user_id, 'idempotency_conflict',
      'this idempotency key was used for a different request; use a new key for a new adjustment');
  END IF;
  IF v_available IS NULL THEN
    RETURN agentrun_credit_refusal(p_user_id, 'unknown_user', format('no account for user %s', p_user_id));
  END IF;
  IF p_amount < 0 AND v_available < -p_amount THEN
    RETURN agentrun_credit_refusal(p_user_id, 'insufficient_credits',
      format('cannot deduct %s credits, %s available', -p_amount, v_available));
  END IF;
  UPDATE credit_balances SET available_credits = available_credits + p_amount, updated_at = now() WHERE user_id = p_user_id;
  INSERT INTO credit_ledger (user_id, kind, amount, available_delta, reserved_delta, idempotency_key, note, actor)
  VALUES (p_user_id, v_kind, abs(p_amount), p_amount, 0, p_idempotency_key, p_note, p_actor);
  RETURN agentrun_credit_result(p_user_id, false);
END $$;
