-- Up Migration
-- Accounts over the API. A user's account (balance, limits with what is used, runs going)
-- in one call; operators grant and deduct credits (the ledger row names the operator) and
-- set or clear a user's limits; a user seen for the first time gets NEW_USER_CREDITS once.
-- Limits: a user's own usage_limits row, else the defaults the caller passes (the
-- processes' DAILY_TOKEN_LIMIT and MONTHLY_COST_LIMIT). The functions that enforce limits
-- get overloads taking those defaults; the earlier ones stay, unchanged, for processes of
-- the previous release during a rolling upgrade (they apply a user's own row only).

ALTER TABLE credit_ledger ADD COLUMN actor text CHECK (actor IS NULL OR length(actor) BETWEEN 1 AND 128);
ALTER TABLE credit_ledger DROP CONSTRAINT credit_ledger_kind_check;
ALTER TABLE credit_ledger ADD CONSTRAINT credit_ledger_kind_check
  CHECK (kind IN ('grant','deduct','reserve','charge','release','refund'));
CREATE INDEX credit_ledger_user_id ON credit_ledger (user_id, id DESC);

-- The user's own limits row, else one holding the defaults (NULL: no limit).
CREATE FUNCTION agentrun_user_limits(p_user_id text, p_default_daily bigint, p_default_monthly bigint)
RETURNS usage_limits LANGUAGE plpgsql STABLE AS $$
DECLARE
  v usage_limits;
BEGIN
  SELECT * INTO v FROM usage_limits WHERE user_id = p_user_id;
  IF NOT FOUND THEN
    v.user_id := p_user_id;
    v.daily_token_limit := p_default_daily;
    v.monthly_cost_limit := p_default_monthly;
  END IF;
  RETURN v;
END $$;

-- As agentrun_monthly_refusal, against a limit the caller looked up.
CREATE FUNCTION agentrun_monthly_refusal(p_user_id text, p_more bigint, p_what text, p_limit bigint)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_spent bigint;
  v_held bigint;
BEGIN
  IF p_limit IS NULL THEN RETURN NULL; END IF;
  v_spent := agentrun_month_spent(p_user_id);
  v_held := agentrun_open_holds(p_user_id);
  IF v_spent + v_held + p_more > p_limit OR (p_more = 0 AND v_spent + v_held >= p_limit) THEN
    RETURN agentrun_credit_refusal(p_user_id, 'budget_exceeded',
      format('%s would pass the monthly cost limit of %s credits (%s spent, %s held this month)', p_what, p_limit, v_spent, v_held));
  END IF;
  RETURN NULL;
END $$;

-- A refusal when the day's tokens (plus p_more) pass the daily limit; NULL when they fit.
CREATE FUNCTION agentrun_daily_refusal(p_user_id text, p_more bigint, p_limit bigint)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_tokens bigint;
BEGIN
  IF p_limit IS NULL THEN RETURN NULL; END IF;
  v_tokens := agentrun_day_tokens(p_user_id);
  IF p_more = 0 AND v_tokens >= p_limit THEN
    RETURN agentrun_credit_refusal(p_user_id, 'budget_exceeded', format('daily token limit of %s reached (%s used today)', p_limit, v_tokens));
  END IF;
  IF p_more > 0 AND v_tokens + p_more > p_limit THEN
    RETURN agentrun_credit_refusal(p_user_id, 'budget_exceeded', format('daily token limit of %s would be exceeded (%s used today)', p_limit, v_tokens));
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION credit_reserve(p_user_id text, p_run_id text, p_amount bigint, p_idempotency_key text,
                               p_default_daily bigint, p_default_monthly bigint)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_available bigint;
  v_refusal jsonb;
  v_limits usage_limits;
BEGIN
  IF p_amount IS NULL OR p_amount <= 0 THEN
    RETURN agentrun_credit_refusal(p_user_id, 'invalid_amount', 'amount must be positive');
  END IF;
  SELECT available_credits INTO v_available FROM credit_balances WHERE user_id = p_user_id FOR UPDATE;
  IF EXISTS (SELECT 1 FROM credit_ledger WHERE idempotency_key = p_idempotency_key)
     OR EXISTS (SELECT 1 FROM credit_reservations WHERE run_id = p_run_id) THEN
    RETURN agentrun_credit_result(p_user_id, true);
  END IF;
  v_limits := agentrun_user_limits(p_user_id, p_default_daily, p_default_monthly);
  v_refusal := coalesce(agentrun_monthly_refusal(p_user_id, 0, 'a new run', v_limits.monthly_cost_limit),
                        agentrun_daily_refusal(p_user_id, 0, v_limits.daily_token_limit));
  IF v_refusal IS NOT NULL THEN RETURN v_refusal; END IF;
  IF v_available IS NULL OR v_available < p_amount THEN
    RETURN agentrun_credit_refusal(p_user_id, 'insufficient_credits',
      format('%s credits needed, %s available', p_amount, coalesce(v_available, 0)));
  END IF;
  UPDATE credit_balances
     SET available_credits = available_credits - p_amount, reserved_credits = reserved_credits + p_amount, updated_at = now()
   WHERE user_id = p_user_id;
  INSERT INTO credit_reservations (run_id, user_id, reserved) VALUES (p_run_id, p_user_id, p_amount);
  INSERT INTO credit_ledger (user_id, run_id, kind, amount, available_delta, reserved_delta, idempotency_key)
  VALUES (p_user_id, p_run_id, 'reserve', p_amount, -p_amount, p_amount, p_idempotency_key);
  RETURN agentrun_credit_result(p_user_id, false, jsonb_build_object('run_reserved', p_amount, 'run_charged', 0));
END $$;

CREATE FUNCTION credit_hold(p_run_id text, p_step_index integer, p_amount bigint, p_tokens bigint, p_idempotency_key text,
                            p_default_daily bigint, p_default_monthly bigint)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_user text;
  v_res credit_reservations;
  v_refusal jsonb;
  v_limits usage_limits;
BEGIN
  SELECT user_id INTO v_user FROM credit_reservations WHERE run_id = p_run_id;
  IF v_user IS NULL THEN
    RETURN agentrun_credit_refusal(NULL, 'no_reservation', format('run %s has no credit reservation', p_run_id));
  END IF;
  PERFORM 1 FROM credit_balances WHERE user_id = v_user FOR UPDATE;
  SELECT * INTO v_res FROM credit_reservations WHERE run_id = p_run_id;
  IF EXISTS (SELECT 1 FROM credit_holds WHERE idempotency_key = p_idempotency_key) THEN
    RETURN agentrun_credit_result(v_user, true, jsonb_build_object('run_reserved', v_res.reserved, 'run_charged', v_res.charged, 'run_held', v_res.held));
  END IF;
  IF p_amount IS NULL OR p_amount < 0 OR p_tokens IS NULL OR p_tokens < 0 THEN
    RETURN agentrun_credit_refusal(v_user, 'invalid_amount', 'amount and tokens must not be negative');
  END IF;
  IF v_res.status <> 'active' THEN
    RETURN agentrun_credit_refusal(v_user, 'reservation_closed', format('run %s reservation is %s', p_run_id, v_res.status));
  END IF;
  IF v_res.charged + v_res.held + p_amount > v_res.reserved THEN
    RETURN agentrun_credit_refusal(v_user, 'budget_exhausted',
      format('%s credit(s) needed up front, the run has %s left', p_amount, v_res.reserved - v_res.charged - v_res.held))
      || jsonb_build_object('run_reserved', v_res.reserved, 'run_charged', v_res.charged, 'run_held', v_res.held);
  END IF;
  v_limits := agentrun_user_limits(v_user, p_default_daily, p_default_monthly);
  v_refusal := agentrun_monthly_refusal(v_user, p_amount, format('holding %s credit(s)', p_amount), v_limits.monthly_cost_limit);
  IF v_refusal IS NOT NULL THEN RETURN v_refusal; END IF;
  IF p_tokens > 0 THEN
    v_refusal := agentrun_daily_refusal(v_user, 0, v_limits.daily_token_limit);
    IF v_refusal IS NOT NULL THEN RETURN v_refusal; END IF;
  END IF;
  UPDATE credit_reservations SET held = held + p_amount, updated_at = now() WHERE run_id = p_run_id;
  INSERT INTO credit_holds (idempotency_key, run_id, user_id, step_index, amount, tokens)
  VALUES (p_idempotency_key, p_run_id, v_user, p_step_index, p_amount, p_tokens);
  RETURN agentrun_credit_result(v_user, false,
    jsonb_build_object('run_reserved', v_res.reserved, 'run_charged', v_res.charged, 'run_held', v_res.held + p_amount));
END $$;

CREATE FUNCTION credit_charge(p_run_id text, p_step_index integer, p_amount bigint, p_tokens bigint, p_idempotency_key text,
                              p_default_daily bigint, p_default_monthly bigint)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_user text;
  v_res credit_reservations;
  v_limits usage_limits;
  v_refusal jsonb;
BEGIN
  SELECT user_id INTO v_user FROM credit_reservations WHERE run_id = p_run_id;
  IF v_user IS NULL THEN
    RETURN agentrun_credit_refusal(NULL, 'no_reservation', format('run %s has no credit reservation', p_run_id));
  END IF;
  PERFORM 1 FROM credit_balances WHERE user_id = v_user FOR UPDATE;
  IF EXISTS (SELECT 1 FROM credit_ledger WHERE idempotency_key = p_idempotency_key) THEN
    RETURN agentrun_credit_result(v_user, true);
  END IF;
  IF p_amount IS NULL OR p_amount < 0 OR p_tokens IS NULL OR p_tokens < 0 THEN
    RETURN agentrun_credit_refusal(v_user, 'invalid_amount', 'amount and tokens must not be negative');
  END IF;
  SELECT * INTO v_res FROM credit_reservations WHERE run_id = p_run_id;
  IF v_res.status <> 'active' THEN
    RETURN agentrun_credit_refusal(v_user, 'reservation_closed', format('run %s reservation is %s', p_run_id, v_res.status));
  END IF;
  IF v_res.charged + v_res.held + p_amount > v_res.reserved THEN
    RETURN agentrun_credit_refusal(v_user, 'budget_exhausted',
      format('charge of %s exceeds the run''s remaining budget of %s', p_amount, v_res.reserved - v_res.charged - v_res.held));
  END IF;
  v_limits := agentrun_user_limits(v_user, p_default_daily, p_default_monthly);
  IF p_amount > 0 THEN
    v_refusal := agentrun_monthly_refusal(v_user, p_amount, format('a charge of %s credit(s)', p_amount), v_limits.monthly_cost_limit);
    IF v_refusal IS NOT NULL THEN RETURN v_refusal; END IF;
  END IF;
  IF p_tokens > 0 THEN
    v_refusal := agentrun_daily_refusal(v_user, p_tokens, v_limits.daily_token_limit);
    IF v_refusal IS NOT NULL THEN RETURN v_refusal; END IF;
  END IF;
  UPDATE credit_balances SET reserved_credits = reserved_credits - p_amount, updated_at = now() WHERE user_id = v_user;
  UPDATE credit_reservations SET charged = charged + p_amount, updated_at = now() WHERE run_id = p_run_id;
  INSERT INTO credit_ledger (user_id, run_id, step_index, kind, amount, available_delta, reserved_delta, tokens, idempotency_key)
  VALUES (v_user, p_run_id, p_step_index, 'charge', p_amount, 0, -p_amount, p_tokens, p_idempotency_key);
  UPDATE agent_runs SET credits_charged = credits_charged + p_amount, updated_at = now() WHERE id = p_run_id;
  IF p_step_index IS NOT NULL THEN
    UPDATE agent_steps SET credits = credits + p_amount WHERE run_id = p_run_id AND step_index = p_step_index;
  END IF;
  RETURN agentrun_credit_result(v_user, false,
    jsonb_build_object('run_reserved', v_res.reserved, 'run_charged', v_res.charged + p_amount));
END $$;

CREATE FUNCTION credit_extend(p_run_id text, p_amount bigint, p_idempotency_key text, p_default_daily bigint, p_default_monthly bigint)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_user text;
  v_res credit_reservations;
  v_available bigint;
  v_refusal jsonb;
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
  v_refusal := agentrun_monthly_refusal(v_user, p_amount, format('extending the run by %s credit(s)', p_amount),
                                        (agentrun_user_limits(v_user, p_default_daily, p_default_monthly)).monthly_cost_limit);
  IF v_refusal IS NOT NULL THEN RETURN v_refusal; END IF;
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

-- A user's account: known (the API has seen them, or credits were granted), balance, limits
-- (their own, or the defaults passed) with what is used of each, and runs going.
CREATE FUNCTION credit_account(p_user_id text, p_default_daily bigint, p_default_monthly bigint)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_limits usage_limits;
  v_own boolean;
BEGIN
  v_own := EXISTS (SELECT 1 FROM usage_limits WHERE user_id = p_user_id);
  v_limits := agentrun_user_limits(p_user_id, p_default_daily, p_default_monthly);
  RETURN jsonb_build_object(
    'user_id', p_user_id,
    'known', EXISTS (SELECT 1 FROM credit_balances WHERE user_id = p_user_id),
    'available', coalesce((SELECT available_credits FROM credit_balances WHERE user_id = p_user_id), 0),
    'reserved', coalesce((SELECT reserved_credits FROM credit_balances WHERE user_id = p_user_id), 0),
    'limits_source', CASE WHEN v_own THEN 'user' ELSE 'default' END,
    'daily_token_limit', v_limits.daily_token_limit,
    'tokens_today', agentrun_day_tokens(p_user_id),
    'monthly_cost_limit', v_limits.monthly_cost_limit,
    'spent_this_month', agentrun_month_spent(p_user_id),
    'held', agentrun_open_holds(p_user_id),
    'active_runs', (SELECT count(*) FROM agent_runs
                     WHERE user_id = p_user_id AND status IN ('queued','planning','awaiting_approval','running','paused')));
END $$;

-- An operator's grant (p_amount > 0) or deduction (p_amount < 0), recorded with the operator
-- and a note. The key makes it happen once: the same key again answers the first result
-- (replayed) when it asked the same, and is refused when it asked anything else.
CREATE FUNCTION credit_adjust(p_user_id text, p_amount bigint, p_idempotency_key text, p_note text, p_actor text)
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

-- Makes the user known and grants them p_amount once (NEW_USER_CREDITS); 'granted' says whether this call did.
CREATE FUNCTION credit_welcome(p_user_id text, p_amount bigint)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_new boolean;
BEGIN
  INSERT INTO credit_balances (user_id) VALUES (p_user_id) ON CONFLICT (user_id) DO NOTHING;
  IF p_amount IS NULL OR p_amount <= 0 THEN
    RETURN jsonb_build_object('ok', true, 'granted', false);
  END IF;
  PERFORM 1 FROM credit_balances WHERE user_id = p_user_id FOR UPDATE;
  v_new := NOT EXISTS (SELECT 1 FROM credit_ledger WHERE idempotency_key = 'welcome:' || p_user_id);
  IF v_new THEN
    UPDATE credit_balances SET available_credits = available_credits + p_amount, updated_at = now() WHERE user_id = p_user_id;
    INSERT INTO credit_ledger (user_id, kind, amount, available_delta, reserved_delta, idempotency_key, note)
    VALUES (p_user_id, 'grant', p_amount, p_amount, 0, 'welcome:' || p_user_id, 'new user credits');
  END IF;
  RETURN jsonb_build_object('ok', true, 'granted', v_new);
END $$;

-- A page of the user's ledger, newest first: the rows before id p_before (all when NULL), at most p_limit.
CREATE FUNCTION credit_ledger_page(p_user_id text, p_before bigint, p_limit integer)
RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'kind', kind, 'amount', amount, 'available_delta', available_delta,
           'reserved_delta', reserved_delta, 'tokens', tokens, 'run_id', run_id, 'step_index', step_index, 'note', note,
           'actor', actor, 'created_at', created_at) ORDER BY id DESC), '[]'::jsonb)
    FROM (SELECT * FROM credit_ledger WHERE user_id = p_user_id AND (p_before IS NULL OR id < p_before)
           ORDER BY id DESC LIMIT least(greatest(p_limit, 1), 500)) page
$$;

-- Removes a user's own limits: the defaults apply again.
CREATE FUNCTION credit_clear_limits(p_user_id text)
RETURNS jsonb LANGUAGE sql AS $$
  WITH gone AS (DELETE FROM usage_limits WHERE user_id = p_user_id RETURNING 1)
  SELECT jsonb_build_object('ok', true, 'cleared', EXISTS (SELECT 1 FROM gone))
$$;

-- Credit functions are for the service only.
DO $$
DECLARE f record;
BEGIN
  FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public' AND (p.proname LIKE 'credit\_%' OR p.proname LIKE 'agentrun\_credit\_%'
                                           OR p.proname IN ('agentrun_user_limits', 'agentrun_monthly_refusal', 'agentrun_daily_refusal'))
  LOOP
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, anon, authenticated', f.sig);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO service_role', f.sig);
  END LOOP;
END $$;

-- Down Migration
DROP FUNCTION IF EXISTS credit_clear_limits(text);
DROP FUNCTION IF EXISTS credit_ledger_page(text, bigint, integer);
DROP FUNCTION IF EXISTS credit_welcome(text, bigint);
DROP FUNCTION IF EXISTS credit_adjust(text, bigint, text, text, text);
DROP FUNCTION IF EXISTS credit_account(text, bigint, bigint);
DROP FUNCTION IF EXISTS credit_extend(text, bigint, text, bigint, bigint);
DROP FUNCTION IF EXISTS credit_charge(text, integer, bigint, bigint, text, bigint, bigint);
DROP FUNCTION IF EXISTS credit_hold(text, integer, bigint, bigint, text, bigint, bigint);
DROP FUNCTION IF EXISTS credit_reserve(text, text, bigint, text, bigint, bigint);
DROP FUNCTION IF EXISTS agentrun_daily_refusal(text, bigint, bigint);
DROP FUNCTION IF EXISTS agentrun_monthly_refusal(text, bigint, text, bigint);
DROP FUNCTION IF EXISTS agentrun_user_limits(text, bigint, bigint);
DROP INDEX IF EXISTS credit_ledger_user_id;
ALTER TABLE credit_ledger DROP CONSTRAINT credit_ledger_kind_check;
ALTER TABLE credit_ledger ADD CONSTRAINT credit_ledger_kind_check CHECK (kind IN ('grant','reserve','charge','release','refund')) NOT VALID;
ALTER TABLE credit_ledger DROP COLUMN actor;
