-- Up Migration
-- agentrun records and credits. Names follow the seeds (agent_runs, agent_steps,
-- credit_balances.available_credits). Credit operations are SQL functions, so the
-- pg adapter and the supabase-js adapter (RPC) share one implementation.

-- Roles PostgREST / Supabase use. On Supabase they exist already.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN NOINHERIT; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN CREATE ROLE authenticated NOLOGIN NOINHERIT; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS; END IF;
END $$;

GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;

-- The caller's user id from the JWT PostgREST (or Supabase) put in the request settings.
CREATE FUNCTION agentrun_current_user_id() RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
$$;

CREATE TABLE agent_runs (
  id              text PRIMARY KEY CHECK (id ~ '^run_[0-9a-z]{26}$'),
  user_id         text NOT NULL CHECK (length(user_id) BETWEEN 1 AND 128),
  prompt          text NOT NULL,
  status          text NOT NULL DEFAULT 'created' CHECK (status IN
                    ('created','queued','planning','awaiting_approval','running','paused','completed','failed','cancelled')),
  priority        smallint NOT NULL DEFAULT 0,
  plan            jsonb,
  result_summary  text,
  error           jsonb,
  tokens_in       bigint NOT NULL DEFAULT 0,
  tokens_out      bigint NOT NULL DEFAULT 0,
  credits_charged bigint NOT NULL DEFAULT 0,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  finished_at     timestamptz
);
CREATE INDEX agent_runs_user_created ON agent_runs (user_id, created_at DESC, id DESC);
CREATE INDEX agent_runs_status ON agent_runs (status);

CREATE TABLE agent_steps (
  run_id         text NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
  step_index     integer NOT NULL CHECK (step_index >= 0),
  user_id        text NOT NULL,
  tool           text NOT NULL,
  input          jsonb NOT NULL DEFAULT '{}'::jsonb,
  output_summary text,
  status         text NOT NULL CHECK (status IN ('running','completed','failed')),
  attempts       integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
  started_at     timestamptz NOT NULL DEFAULT now(),
  finished_at    timestamptz,
  duration_ms    integer,
  tokens_in      bigint NOT NULL DEFAULT 0,
  tokens_out     bigint NOT NULL DEFAULT 0,
  credits        bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, step_index)
);
CREATE INDEX agent_steps_user ON agent_steps (user_id);

CREATE TABLE credit_balances (
  user_id           text PRIMARY KEY,
  available_credits bigint NOT NULL DEFAULT 0 CHECK (available_credits >= 0),
  reserved_credits  bigint NOT NULL DEFAULT 0 CHECK (reserved_credits >= 0),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Append-only: every row says how it moved the balance, so the ledger sums to it.
CREATE TABLE credit_ledger (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id         text NOT NULL,
  run_id          text,
  step_index      integer,
  kind            text NOT NULL CHECK (kind IN ('grant','reserve','charge','release','refund')),
  amount          bigint NOT NULL CHECK (amount >= 0),
  available_delta bigint NOT NULL,
  reserved_delta  bigint NOT NULL,
  tokens          bigint NOT NULL DEFAULT 0 CHECK (tokens >= 0),
  idempotency_key text NOT NULL UNIQUE,
  note            text,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credit_ledger_user_created ON credit_ledger (user_id, created_at);
CREATE INDEX credit_ledger_run ON credit_ledger (run_id);

CREATE FUNCTION agentrun_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'credit_ledger is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER credit_ledger_no_update BEFORE UPDATE OR DELETE ON credit_ledger
  FOR EACH ROW EXECUTE FUNCTION agentrun_ledger_append_only();
CREATE TRIGGER credit_ledger_no_truncate BEFORE TRUNCATE ON credit_ledger
  FOR EACH STATEMENT EXECUTE FUNCTION agentrun_ledger_append_only();

-- One reservation per run: what was set aside, what has been charged against it.
CREATE TABLE credit_reservations (
  run_id     text PRIMARY KEY,
  user_id    text NOT NULL,
  reserved   bigint NOT NULL CHECK (reserved >= 0),
  charged    bigint NOT NULL DEFAULT 0 CHECK (charged >= 0 AND charged <= reserved),
  refunded   bigint NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= charged),
  status     text NOT NULL DEFAULT 'active' CHECK (status IN ('active','settled','released')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credit_reservations_user ON credit_reservations (user_id);

-- Per-user budgets (botburrow seed): tokens per UTC day, credits per UTC month.
CREATE TABLE usage_limits (
  user_id            text PRIMARY KEY,
  daily_token_limit  bigint CHECK (daily_token_limit > 0),
  monthly_cost_limit bigint CHECK (monthly_cost_limit > 0),
  updated_at         timestamptz NOT NULL DEFAULT now()
);

-- ---------- credit operations ----------
-- Each takes an idempotency key and is a no-op on replay. Each locks the user's
-- balance row first, so operations of one user are serialised and a check-then-act
-- cannot race. Refusals are results ({ok:false, reason}), never exceptions.

CREATE FUNCTION agentrun_credit_result(p_user_id text, p_replayed boolean, p_extra jsonb DEFAULT '{}'::jsonb)
RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('ok', true, 'replayed', p_replayed,
           'available', coalesce(b.available_credits, 0), 'reserved', coalesce(b.reserved_credits, 0)) || p_extra
  FROM (SELECT 1) one LEFT JOIN credit_balances b ON b.user_id = p_user_id
$$;

CREATE FUNCTION agentrun_credit_refusal(p_user_id text, p_reason text, p_message text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('ok', false, 'reason', p_reason, 'message', p_message,
           'available', coalesce(b.available_credits, 0), 'reserved', coalesce(b.reserved_credits, 0))
  FROM (SELECT 1) one LEFT JOIN credit_balances b ON b.user_id = p_user_id
$$;

CREATE FUNCTION credit_grant(p_user_id text, p_amount bigint, p_idempotency_key text, p_note text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  IF p_amount IS NULL OR p_amount <= 0 THEN
    RETURN agentrun_credit_refusal(p_user_id, 'invalid_amount', 'amount must be positive');
  END IF;
  INSERT INTO credit_balances (user_id) VALUES (p_user_id) ON CONFLICT (user_id) DO NOTHING;
  PERFORM 1 FROM credit_balances WHERE user_id = p_user_id FOR UPDATE;
  IF EXISTS (SELECT 1 FROM credit_ledger WHERE idempotency_key = p_idempotency_key) THEN
    RETURN agentrun_credit_result(p_user_id, true);
  END IF;
  UPDATE credit_balances SET available_credits = available_credits + p_amount, updated_at = now() WHERE user_id = p_user_id;
  INSERT INTO credit_ledger (user_id, kind, amount, available_delta, reserved_delta, idempotency_key, note)
  VALUES (p_user_id, 'grant', p_amount, p_amount, 0, p_idempotency_key, p_note);
  RETURN agentrun_credit_result(p_user_id, false);
END $$;

CREATE FUNCTION credit_reserve(p_user_id text, p_run_id text, p_amount bigint, p_idempotency_key text)
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

CREATE FUNCTION credit_charge(p_run_id text, p_step_index integer, p_amount bigint, p_tokens bigint, p_idempotency_key text)
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

-- Closes a run's reservation, returning what was not charged. p_status: settled | released.
CREATE FUNCTION agentrun_credit_close(p_run_id text, p_idempotency_key text, p_status text)
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

CREATE FUNCTION credit_settle(p_run_id text, p_idempotency_key text)
RETURNS jsonb LANGUAGE sql AS $$ SELECT agentrun_credit_close(p_run_id, p_idempotency_key, 'settled') $$;

CREATE FUNCTION credit_release(p_run_id text, p_idempotency_key text)
RETURNS jsonb LANGUAGE sql AS $$ SELECT agentrun_credit_close(p_run_id, p_idempotency_key, 'released') $$;

CREATE FUNCTION credit_refund(p_run_id text, p_amount bigint, p_idempotency_key text, p_note text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_user text;
  v_res credit_reservations;
BEGIN
  SELECT user_id INTO v_user FROM credit_reservations WHERE run_id = p_run_id;
  IF v_user IS NULL THEN
    RETURN agentrun_credit_refusal(NULL, 'no_reservation', format('run %s has no credit reservation', p_run_id));
  END IF;
  PERFORM 1 FROM credit_balances WHERE user_id = v_user FOR UPDATE;
  IF EXISTS (SELECT 1 FROM credit_ledger WHERE idempotency_key = p_idempotency_key) THEN
    RETURN agentrun_credit_result(v_user, true);
  END IF;
  SELECT * INTO v_res FROM credit_reservations WHERE run_id = p_run_id;
  IF p_amount IS NULL OR p_amount <= 0 OR v_res.refunded + p_amount > v_res.charged THEN
    RETURN agentrun_credit_refusal(v_user, 'invalid_amount',
      format('refund must be positive and at most the %s credits charged and not yet refunded', v_res.charged - v_res.refunded));
  END IF;
  UPDATE credit_balances SET available_credits = available_credits + p_amount, updated_at = now() WHERE user_id = v_user;
  UPDATE credit_reservations SET refunded = refunded + p_amount, updated_at = now() WHERE run_id = p_run_id;
  INSERT INTO credit_ledger (user_id, run_id, kind, amount, available_delta, reserved_delta, idempotency_key, note)
  VALUES (v_user, p_run_id, 'refund', p_amount, p_amount, 0, p_idempotency_key, p_note);
  RETURN agentrun_credit_result(v_user, false);
END $$;

CREATE FUNCTION credit_set_limits(p_user_id text, p_daily_token_limit bigint, p_monthly_cost_limit bigint)
RETURNS jsonb LANGUAGE sql AS $$
  INSERT INTO usage_limits (user_id, daily_token_limit, monthly_cost_limit) VALUES (p_user_id, p_daily_token_limit, p_monthly_cost_limit)
  ON CONFLICT (user_id) DO UPDATE SET daily_token_limit = excluded.daily_token_limit,
    monthly_cost_limit = excluded.monthly_cost_limit, updated_at = now()
  RETURNING jsonb_build_object('ok', true, 'daily_token_limit', daily_token_limit, 'monthly_cost_limit', monthly_cost_limit)
$$;

CREATE FUNCTION credit_balance(p_user_id text)
RETURNS jsonb LANGUAGE sql STABLE AS $$ SELECT agentrun_credit_result(p_user_id, false) - 'replayed' $$;

-- ---------- run records ----------

CREATE FUNCTION run_create(p_id text, p_user_id text, p_prompt text, p_priority smallint DEFAULT 0, p_status text DEFAULT 'queued')
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_created boolean;
BEGIN
  INSERT INTO agent_runs (id, user_id, prompt, priority, status) VALUES (p_id, p_user_id, p_prompt, p_priority, p_status)
  ON CONFLICT (id) DO NOTHING;
  v_created := FOUND;
  RETURN jsonb_build_object('ok', true, 'created', v_created);
END $$;

-- Applies a status transition and optional fields. A terminal run never changes status
-- again, so a late retry of an earlier transition cannot resurrect it.
CREATE FUNCTION run_update(p_id text, p_status text, p_fields jsonb DEFAULT '{}'::jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_row agent_runs;
BEGIN
  UPDATE agent_runs SET
    status = CASE WHEN status IN ('completed','failed','cancelled') THEN status ELSE coalesce(p_status, status) END,
    plan = CASE WHEN p_fields ? 'plan' THEN p_fields -> 'plan' ELSE plan END,
    result_summary = CASE WHEN p_fields ? 'result_summary' THEN p_fields ->> 'result_summary' ELSE result_summary END,
    error = CASE WHEN p_fields ? 'error' THEN p_fields -> 'error' ELSE error END,
    started_at = CASE WHEN started_at IS NULL AND p_status IN ('planning','running') THEN now() ELSE started_at END,
    finished_at = CASE WHEN finished_at IS NULL AND p_status IN ('completed','failed','cancelled') THEN now() ELSE finished_at END,
    updated_at = now()
  WHERE id = p_id
  RETURNING * INTO v_row;
  IF NOT FOUND THEN
    RETURN jsonb_build_object('ok', false, 'reason', 'not_found', 'message', format('run %s has no record', p_id));
  END IF;
  RETURN jsonb_build_object('ok', true, 'status', v_row.status);
END $$;

-- Records a step; one row per (run, index) however often the activity is retried.
-- A finished step is never set back to running by a stale attempt.
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

-- What the running code checks at start: tables and columns, functions, migration.
-- SECURITY DEFINER so the service role can read pgmigrations; executable by service_role only (below).
CREATE FUNCTION agentrun_schema_info() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_catalog AS $$
  SELECT jsonb_build_object(
    'columns', (SELECT coalesce(jsonb_object_agg(table_name, cols), '{}'::jsonb) FROM (
        SELECT table_name, jsonb_agg(column_name ORDER BY ordinal_position) AS cols
        FROM information_schema.columns WHERE table_schema = 'public' GROUP BY table_name) t),
    'functions', (SELECT coalesce(jsonb_agg(DISTINCT p.proname), '[]'::jsonb)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'),
    'migration', (SELECT max(name) FROM pgmigrations))
$$;

-- ---------- privileges and row-level security ----------

ALTER TABLE agent_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_steps ENABLE ROW LEVEL SECURITY;
ALTER TABLE credit_balances ENABLE ROW LEVEL SECURITY;
ALTER TABLE credit_ledger ENABLE ROW LEVEL SECURITY;
ALTER TABLE credit_reservations ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_limits ENABLE ROW LEVEL SECURITY;

REVOKE ALL ON agent_runs, agent_steps, credit_balances, credit_ledger, credit_reservations, usage_limits FROM PUBLIC, anon, authenticated;
GRANT SELECT ON agent_runs, agent_steps, credit_balances, credit_ledger, credit_reservations, usage_limits TO authenticated;
GRANT ALL ON agent_runs, agent_steps, credit_balances, credit_ledger, credit_reservations, usage_limits TO service_role;
REVOKE UPDATE, DELETE, TRUNCATE ON credit_ledger FROM service_role;

CREATE POLICY own_runs ON agent_runs FOR SELECT TO authenticated USING (user_id = agentrun_current_user_id());
CREATE POLICY own_steps ON agent_steps FOR SELECT TO authenticated USING (user_id = agentrun_current_user_id());
CREATE POLICY own_balance ON credit_balances FOR SELECT TO authenticated USING (user_id = agentrun_current_user_id());
CREATE POLICY own_ledger ON credit_ledger FOR SELECT TO authenticated USING (user_id = agentrun_current_user_id());
CREATE POLICY own_reservations ON credit_reservations FOR SELECT TO authenticated USING (user_id = agentrun_current_user_id());
CREATE POLICY own_limits ON usage_limits FOR SELECT TO authenticated USING (user_id = agentrun_current_user_id());

-- Credit and record functions are for the service only: a user's JWT must not grant itself credits.
DO $$
DECLARE f record;
BEGIN
  FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public' AND (p.proname LIKE 'credit\_%' OR p.proname LIKE 'run\_%' OR p.proname LIKE 'step\_%'
                                           OR p.proname LIKE 'agentrun\_credit\_%' OR p.proname = 'agentrun_schema_info')
  LOOP
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC, anon, authenticated', f.sig);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO service_role', f.sig);
  END LOOP;
END $$;
GRANT EXECUTE ON FUNCTION agentrun_current_user_id() TO anon, authenticated, service_role;

-- Down Migration
DROP TABLE IF EXISTS agent_steps, agent_runs, credit_ledger, credit_reservations, credit_balances, usage_limits CASCADE;
DROP FUNCTION IF EXISTS agentrun_schema_info(), step_record(text, integer, text, text, jsonb, text, integer, text, integer),
  run_update(text, text, jsonb), run_create(text, text, text, smallint, text), credit_balance(text),
  credit_set_limits(text, bigint, bigint), credit_refund(text, bigint, text, text), credit_release(text, text),
  credit_settle(text, text), agentrun_credit_close(text, text, text), credit_charge(text, integer, bigint, bigint, text),
  credit_reserve(text, text, bigint, text), credit_grant(text, bigint, text, text),
  agentrun_credit_refusal(text, text, text), agentrun_credit_result(text, boolean, jsonb),
  agentrun_ledger_append_only(), agentrun_current_user_id();
