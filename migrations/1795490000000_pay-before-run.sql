-- Up Migration
-- Pay before you run. Before a step or an LLM call starts, its maximum cost is held
-- against the run's reservation (credit_hold); afterwards the hold is settled to the
-- actual cost, capped at the hold (credit_settle_hold). So a run can never be charged
-- more than its reservation plus approved extensions, and nothing runs unpaid.
-- The monthly cost limit now counts open holds and is enforced at every point that
-- lets money be spent: reserve, hold, charge and extend.

ALTER TABLE credit_reservations ADD COLUMN held bigint NOT NULL DEFAULT 0 CHECK (held >= 0);
ALTER TABLE credit_reservations ADD CONSTRAINT credit_reservations_held_within CHECK (charged + held <= reserved);

-- One row per hold; at most one charge settles it. Holds move no balance (they sit inside
-- the run's reservation), so they are not ledger rows; the charge that settles one is.
CREATE TABLE credit_holds (
  idempotency_key text PRIMARY KEY,
  run_id          text NOT NULL REFERENCES credit_reservations (run_id),
  user_id         text NOT NULL,
  step_index      integer,
  amount          bigint NOT NULL CHECK (amount >= 0),
  tokens          bigint NOT NULL DEFAULT 0 CHECK (tokens >= 0),
  status          text NOT NULL DEFAULT 'held' CHECK (status IN ('held','settled','released')),
  charged         bigint CHECK (charged >= 0 AND charged <= amount),
  charge_key      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  closed_at       timestamptz
);
CREATE INDEX credit_holds_open ON credit_holds (user_id) WHERE status = 'held';
CREATE INDEX credit_holds_run ON credit_holds (run_id);
ALTER TABLE credit_holds ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON credit_holds FROM PUBLIC, anon, authenticated;
GRANT SELECT ON credit_holds TO authenticated;
GRANT ALL ON credit_holds TO service_role;
CREATE POLICY own_holds ON credit_holds FOR SELECT TO authenticated USING (user_id = agentrun_current_user_id());

-- Charges minus refunds of the user's current UTC month.
CREATE FUNCTION agentrun_month_spent(p_user_id text) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT coalesce(sum(CASE kind WHEN 'charge' THEN amount WHEN 'refund' THEN -amount ELSE 0 END), 0)::bigint
    FROM credit_ledger WHERE user_id = p_user_id AND created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
$$;
-- Credits held and not yet settled, over all of the user's runs.
CREATE FUNCTION agentrun_open_holds(p_user_id text) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT coalesce(sum(amount), 0)::bigint FROM credit_holds WHERE user_id = p_user_id AND status = 'held'
$$;
-- Tokens charged today (UTC).
CREATE FUNCTION agentrun_day_tokens(p_user_id text) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT coalesce(sum(tokens), 0)::bigint
    FROM credit_ledger WHERE user_id = p_user_id AND kind = 'charge' AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
$$;
-- A refusal when p_more credits on top of this month's charges and open holds would pass the limit; NULL when they fit.
CREATE FUNCTION agentrun_monthly_refusal(p_user_id text, p_more bigint, p_what text) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_limit bigint;
  v_spent bigint;
  v_held bigint;
BEGIN
  SELECT monthly_cost_limit INTO v_limit FROM usage_limits WHERE user_id = p_user_id;
  IF v_limit IS NULL THEN RETURN NULL; END IF;
  v_spent := agentrun_month_spent(p_user_id);
  v_held := agentrun_open_holds(p_user_id);
  IF v_spent + v_held + p_more > v_limit OR (p_more = 0 AND v_spent + v_held >= v_limit) THEN
    RETURN agentrun_credit_refusal(p_user_id, 'budget_exceeded',
      format('%s would pass the monthly cost limit of %s credits (%s spent, %s held this month)', p_what, v_limit, v_spent, v_held));
  END IF;
  RETURN NULL;
END $$;

-- Reserve: refused once this month's charges and open holds reach the monthly limit.
CREATE OR REPLACE FUNCTION credit_reserve(p_user_id text, p_run_id text, p_amount bigint, p_idempotency_key text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_available bigint;
  v_refusal jsonb;
  v_limits usage_limits;
  v_tokens bigint;
BEGIN
  IF p_amount IS NULL OR p_amount <= 0 THEN
    RETURN agentrun_credit_refusal(p_user_id, 'invalid_amount', 'amount must be positive');
  END IF;
  SELECT available_credits INTO v_available FROM credit_balances WHERE user_id = p_user_id FOR UPDATE;
  IF EXISTS (SELECT 1 FROM credit_ledger WHERE idempotency_key = p_idempotency_key)
     OR EXISTS (SELECT 1 FROM credit_reservations WHERE run_id = p_run_id) THEN
    RETURN agentrun_credit_result(p_user_id, true);
  END IF;
  v_refusal := agentrun_monthly_refusal(p_user_id, 0, 'a new run');
  IF v_refusal IS NOT NULL THEN RETURN v_refusal; END IF;
  SELECT * INTO v_limits FROM usage_limits WHERE user_id = p_user_id;
  IF v_limits.daily_token_limit IS NOT NULL THEN
    v_tokens := agentrun_day_tokens(p_user_id);
    IF v_tokens >= v_limits.daily_token_limit THEN
      RETURN agentrun_credit_refusal(p_user_id, 'budget_exceeded',
        format('daily token limit of %s reached (%s used today)', v_limits.daily_token_limit, v_tokens));
    END IF;
  END IF;
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

-- Holds p_amount of the run's reservation for one step or LLM call before it starts.
-- Refused with budget_exhausted when the run's unheld, uncharged reservation is smaller,
-- with budget_exceeded when the monthly cost limit (or, for LLM calls, p_tokens > 0, the
-- daily token limit) leaves no room.
CREATE FUNCTION credit_hold(p_run_id text, p_step_index integer, p_amount bigint, p_tokens bigint, p_idempotency_key text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_user text;
  v_res credit_reservations;
  v_refusal jsonb;
  v_limits usage_limits;
  v_tokens bigint;
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
  v_refusal := agentrun_monthly_refusal(v_user, p_amount, format('holding %s credit(s)', p_amount));
  IF v_refusal IS NOT NULL THEN RETURN v_refusal; END IF;
  IF p_tokens > 0 THEN
    SELECT * INTO v_limits FROM usage_limits WHERE user_id = v_user;
    IF v_limits.daily_token_limit IS NOT NULL THEN
      v_tokens := agentrun_day_tokens(v_user);
      IF v_tokens >= v_limits.daily_token_limit THEN
        RETURN agentrun_credit_refusal(v_user, 'budget_exceeded',
          format('daily token limit of %s reached (%s used today)', v_limits.daily_token_limit, v_tokens));
      END IF;
    END IF;
  END IF;
  UPDATE credit_reservations SET held = held + p_amount, updated_at = now() WHERE run_id = p_run_id;
  INSERT INTO credit_holds (idempotency_key, run_id, user_id, step_index, amount, tokens)
  VALUES (p_idempotency_key, p_run_id, v_user, p_step_index, p_amount, p_tokens);
  RETURN agentrun_credit_result(v_user, false,
    jsonb_build_object('run_reserved', v_res.reserved, 'run_charged', v_res.charged, 'run_held', v_res.held + p_amount));
END $$;

-- Settles a hold: charges min(p_amount, the hold) under p_charge_key and frees the rest of
-- the hold. Never refused for budget (the hold already paid for it); a closed or unknown
-- hold answers with what it was settled at.
CREATE FUNCTION credit_settle_hold(p_hold_key text, p_amount bigint, p_tokens bigint, p_charge_key text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_hold credit_holds;
  v_res credit_reservations;
  v_charge bigint;
BEGIN
  SELECT * INTO v_hold FROM credit_holds WHERE idempotency_key = p_hold_key;
  IF v_hold.idempotency_key IS NULL THEN
    RETURN agentrun_credit_refusal(NULL, 'no_reservation', format('no credit hold %s', p_hold_key));
  END IF;
  PERFORM 1 FROM credit_balances WHERE user_id = v_hold.user_id FOR UPDATE;
  SELECT * INTO v_hold FROM credit_holds WHERE idempotency_key = p_hold_key;
  SELECT * INTO v_res FROM credit_reservations WHERE run_id = v_hold.run_id;
  IF v_hold.status <> 'held' THEN
    RETURN agentrun_credit_result(v_hold.user_id, true, jsonb_build_object('charged', coalesce(v_hold.charged, 0),
      'run_reserved', v_res.reserved, 'run_charged', v_res.charged, 'hold', v_hold.status));
  END IF;
  IF p_amount IS NULL OR p_amount < 0 OR p_tokens IS NULL OR p_tokens < 0 THEN
    RETURN agentrun_credit_refusal(v_hold.user_id, 'invalid_amount', 'amount and tokens must not be negative');
  END IF;
  v_charge := LEAST(p_amount, v_hold.amount);
  UPDATE credit_reservations SET held = held - v_hold.amount, charged = charged + v_charge, updated_at = now() WHERE run_id = v_hold.run_id;
  UPDATE credit_holds SET status = 'settled', charged = v_charge, tokens = p_tokens, charge_key = p_charge_key, closed_at = now()
   WHERE idempotency_key = p_hold_key;
  IF v_charge > 0 OR p_tokens > 0 THEN
    UPDATE credit_balances SET reserved_credits = reserved_credits - v_charge, updated_at = now() WHERE user_id = v_hold.user_id;
    INSERT INTO credit_ledger (user_id, run_id, step_index, kind, amount, available_delta, reserved_delta, tokens, idempotency_key, note)
    VALUES (v_hold.user_id, v_hold.run_id, v_hold.step_index, 'charge', v_charge, 0, -v_charge, p_tokens, p_charge_key,
            CASE WHEN p_amount > v_hold.amount THEN format('capped at the hold of %s (asked %s)', v_hold.amount, p_amount) END);
    UPDATE agent_runs SET credits_charged = credits_charged + v_charge, updated_at = now() WHERE id = v_hold.run_id;
    IF v_hold.step_index IS NOT NULL THEN
      UPDATE agent_steps SET credits = credits + v_charge WHERE run_id = v_hold.run_id AND step_index = v_hold.step_index;
    END IF;
  END IF;
  RETURN agentrun_credit_result(v_hold.user_id, false, jsonb_build_object('charged', v_charge, 'capped', p_amount > v_hold.amount,
    'run_reserved', v_res.reserved, 'run_charged', v_res.charged + v_charge, 'hold', 'settled'));
END $$;

-- A charge without a hold (workflows started before holds existed): also refused when it
-- would pass the monthly cost limit.
CREATE OR REPLACE FUNCTION credit_charge(p_run_id text, p_step_index integer, p_amount bigint, p_tokens bigint, p_idempotency_key text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_user text;
  v_res credit_reservations;
  v_limits usage_limits;
  v_tokens bigint;
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
  IF p_amount > 0 THEN
    v_refusal := agentrun_monthly_refusal(v_user, p_amount, format('a charge of %s credit(s)', p_amount));
    IF v_refusal IS NOT NULL THEN RETURN v_refusal; END IF;
  END IF;
  SELECT * INTO v_limits FROM usage_limits WHERE user_id = v_user;
  IF v_limits.daily_token_limit IS NOT NULL AND p_tokens > 0 THEN
    v_tokens := agentrun_day_tokens(v_user);
    IF v_tokens + p_tokens > v_limits.daily_token_limit THEN
      RETURN agentrun_credit_refusal(v_user, 'budget_exceeded',
        format('daily token limit of %s would be exceeded (%s used today)', v_limits.daily_token_limit, v_tokens));
    END IF;
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

-- Extend: also refused when the extension would let the month's charges pass the limit.
CREATE OR REPLACE FUNCTION credit_extend(p_run_id text, p_amount bigint, p_idempotency_key text)
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
  v_refusal := agentrun_monthly_refusal(v_user, p_amount, format('extending the run by %s credit(s)', p_amount));
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

-- Closing a reservation drops its open holds (a run that ends mid-step settles its hold first).
CREATE OR REPLACE FUNCTION agentrun_credit_close(p_run_id text, p_idempotency_key text, p_status text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_user text;
  v_res credit_reservations;
  v_unused bigint;
BEGIN
  SELECT user_id INTO v_user FROM credit_reservations WHERE run_id = p_run_id;
  IF v_user IS NULL THEN
    RETURN jsonb_build_object('ok', true, 'replayed', false, 'returned', 0, 'reservation', 'none');
  END IF;
  PERFORM 1 FROM credit_balances WHERE user_id = v_user FOR UPDATE;
  SELECT * INTO v_res FROM credit_reservations WHERE run_id = p_run_id;
  IF v_res.status <> 'active' OR EXISTS (SELECT 1 FROM credit_ledger WHERE idempotency_key = p_idempotency_key) THEN
    RETURN agentrun_credit_result(v_user, true, jsonb_build_object('reservation', v_res.status));
  END IF;
  UPDATE credit_holds SET status = 'released', charged = 0, closed_at = now() WHERE run_id = p_run_id AND status = 'held';
  v_unused := v_res.reserved - v_res.charged;
  UPDATE credit_balances
     SET available_credits = available_credits + v_unused, reserved_credits = reserved_credits - v_unused, updated_at = now()
   WHERE user_id = v_user;
  UPDATE credit_reservations SET status = p_status, held = 0, updated_at = now() WHERE run_id = p_run_id;
  INSERT INTO credit_ledger (user_id, run_id, kind, amount, available_delta, reserved_delta, idempotency_key, note)
  VALUES (v_user, p_run_id, 'release', v_unused, v_unused, -v_unused, p_idempotency_key, p_status);
  RETURN agentrun_credit_result(v_user, false,
    jsonb_build_object('returned', v_unused, 'run_charged', v_res.charged, 'reservation', p_status));
END $$;

-- Credit functions are for the service only.
DO $$
DECLARE f record;
BEGIN
  FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public' AND (p.proname LIKE 'credit\_%' OR p.proname LIKE 'agentrun\_credit\_%'
                                           OR p.proname IN ('agentrun_month_spent', 'agentrun_open_holds', 'agentrun_day_tokens', 'agentrun_monthly_refusal'))
  LOOP
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, anon, authenticated', f.sig);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO service_role', f.sig);
  END LOOP;
END $$;

-- Down Migration
-- The earlier bodies of the functions this migration replaced (from 1795420000000 and 1795430000000).
CREATE OR REPLACE FUNCTION credit_reserve(p_user_id text, p_run_id text, p_amount bigint, p_idempotency_key text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_available bigint;
  v_limits usage_limits;
  v_spent bigint;
  v_tokens bigint;
BEGIN
  IF p_amount IS NULL OR p_amount <= 0 THEN
    RETURN agentrun_credit_refusal(p_user_id, 'invalid_amount', 'amount must be positive');
  END IF;
  SELECT available_credits INTO v_available FROM credit_balances WHERE user_id = p_user_id FOR UPDATE;
  IF EXISTS (SELECT 1 FROM credit_ledger WHERE idempotency_key = p_idempotency_key)
     OR EXISTS (SELECT 1 FROM credit_reservations WHERE run_id = p_run_id) THEN
    RETURN agentrun_credit_result(p_user_id, true);
  END IF;
  SELECT * INTO v_limits FROM usage_limits WHERE user_id = p_user_id;
  IF v_limits.monthly_cost_limit IS NOT NULL THEN
    SELECT coalesce(sum(CASE kind WHEN 'charge' THEN amount WHEN 'refund' THEN -amount ELSE 0 END), 0) INTO v_spent
      FROM credit_ledger WHERE user_id = p_user_id AND created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    IF v_spent >= v_limits.monthly_cost_limit THEN
      RETURN agentrun_credit_refusal(p_user_id, 'budget_exceeded',
        format('monthly cost limit of %s credits reached (%s spent this month)', v_limits.monthly_cost_limit, v_spent));
    END IF;
  END IF;
  IF v_limits.daily_token_limit IS NOT NULL THEN
    SELECT coalesce(sum(tokens), 0) INTO v_tokens
      FROM credit_ledger WHERE user_id = p_user_id AND kind = 'charge' AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    IF v_tokens >= v_limits.daily_token_limit THEN
      RETURN agentrun_credit_refusal(p_user_id, 'budget_exceeded',
        format('daily token limit of %s reached (%s used today)', v_limits.daily_token_limit, v_tokens));
    END IF;
  END IF;
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

CREATE OR REPLACE FUNCTION credit_charge(p_run_id text, p_step_index integer, p_amount bigint, p_tokens bigint, p_idempotency_key text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_user text;
  v_res credit_reservations;
  v_limits usage_limits;
  v_tokens bigint;
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
  IF v_res.charged + p_amount > v_res.reserved THEN
    RETURN agentrun_credit_refusal(v_user, 'budget_exhausted',
      format('charge of %s exceeds the run''s remaining budget of %s', p_amount, v_res.reserved - v_res.charged));
  END IF;
  SELECT * INTO v_limits FROM usage_limits WHERE user_id = v_user;
  IF v_limits.daily_token_limit IS NOT NULL AND p_tokens > 0 THEN
    SELECT coalesce(sum(tokens), 0) INTO v_tokens
      FROM credit_ledger WHERE user_id = v_user AND kind = 'charge' AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    IF v_tokens + p_tokens > v_limits.daily_token_limit THEN
      RETURN agentrun_credit_refusal(v_user, 'budget_exceeded',
        format('daily token limit of %s would be exceeded (%s used today)', v_limits.daily_token_limit, v_tokens));
    END IF;
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

CREATE OR REPLACE FUNCTION agentrun_credit_close(p_run_id text, p_idempotency_key text, p_status text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_user text;
  v_res credit_reservations;
  v_unused bigint;
BEGIN
  SELECT user_id INTO v_user FROM credit_reservations WHERE run_id = p_run_id;
  IF v_user IS NULL THEN
    -- Nothing was reserved (e.g. the reservation was refused): nothing to give back.
    RETURN jsonb_build_object('ok', true, 'replayed', false, 'returned', 0, 'reservation', 'none');
  END IF;
  PERFORM 1 FROM credit_balances WHERE user_id = v_user FOR UPDATE;
  SELECT * INTO v_res FROM credit_reservations WHERE run_id = p_run_id;
  IF v_res.status <> 'active' OR EXISTS (SELECT 1 FROM credit_ledger WHERE idempotency_key = p_idempotency_key) THEN
    RETURN agentrun_credit_result(v_user, true, jsonb_build_object('reservation', v_res.status));
  END IF;
  v_unused := v_res.reserved - v_res.charged;
  UPDATE credit_balances
     SET available_credits = available_credits + v_unused, reserved_credits = reserved_credits - v_unused, updated_at = now()
   WHERE user_id = v_user;
  UPDATE credit_reservations SET status = p_status, updated_at = now() WHERE run_id = p_run_id;
  INSERT INTO credit_ledger (user_id, run_id, kind, amount, available_delta, reserved_delta, idempotency_key, note)
  VALUES (v_user, p_run_id, 'release', v_unused, v_unused, -v_unused, p_idempotency_key, p_status);
  RETURN agentrun_credit_result(v_user, false,
    jsonb_build_object('returned', v_unused, 'run_charged', v_res.charged, 'reservation', p_status));
END $$;

CREATE OR REPLACE FUNCTION credit_extend(p_run_id text, p_amount bigint, p_idempotency_key text)
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

DROP FUNCTION IF EXISTS credit_settle_hold(text, bigint, bigint, text), credit_hold(text, integer, bigint, bigint, text),
  agentrun_monthly_refusal(text, bigint, text), agentrun_day_tokens(text), agentrun_open_holds(text), agentrun_month_spent(text);
DROP TABLE IF EXISTS credit_holds;
ALTER TABLE credit_reservations DROP CONSTRAINT IF EXISTS credit_reservations_held_within;
ALTER TABLE credit_reservations DROP COLUMN IF EXISTS held;
