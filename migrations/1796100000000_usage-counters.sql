-- Up Migration
-- The usage limits' counts kept as they change instead of summed at each check. With a
-- monthly cost limit or a daily token limit set, every reservation, hold, charge and
-- extension summed the user's ledger rows of the month (or the day) and their open holds:
-- for the bench's user (47,000 ledger rows this month) a month's sum took 17-29 ms and the
-- open holds' 59 ms (their partial index full of settled holds' entries until a vacuum),
-- twice per step, growing all month. Now each is one row read:
--   credit_usage_days: per user and UTC day, what was charged less what was refunded
--     (credits) and the tokens charged; a month is at most 31 rows of it;
--   credit_open_holds: per user, the credits held and not yet settled or released.
-- Triggers keep them with the ledger (append-only) and the holds, in the same transaction.

CREATE TABLE credit_usage_days (
  user_id text   NOT NULL,
  day     date   NOT NULL,
  spent   bigint NOT NULL DEFAULT 0,
  tokens  bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, day)
);
CREATE TABLE credit_open_holds (
  user_id text   PRIMARY KEY,
  held    bigint NOT NULL DEFAULT 0 CHECK (held >= 0)
);

CREATE FUNCTION agentrun_count_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO credit_usage_days (user_id, day, spent, tokens)
  VALUES (NEW.user_id, (NEW.created_at AT TIME ZONE 'UTC')::date,
          CASE NEW.kind WHEN 'charge' THEN NEW.amount ELSE -NEW.amount END,
          CASE NEW.kind WHEN 'charge' THEN NEW.tokens ELSE 0 END)
  ON CONFLICT (user_id, day) DO UPDATE
    SET spent = credit_usage_days.spent + EXCLUDED.spent, tokens = credit_usage_days.tokens + EXCLUDED.tokens;
  RETURN NULL;
END $$;
CREATE TRIGGER credit_ledger_usage AFTER INSERT ON credit_ledger
  FOR EACH ROW WHEN (NEW.kind IN ('charge', 'refund')) EXECUTE FUNCTION agentrun_count_usage();

CREATE FUNCTION agentrun_count_holds() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'held' THEN
    UPDATE credit_open_holds SET held = held - OLD.amount WHERE user_id = OLD.user_id;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status = 'held' THEN
    INSERT INTO credit_open_holds (user_id, held) VALUES (NEW.user_id, NEW.amount)
    ON CONFLICT (user_id) DO UPDATE SET held = credit_open_holds.held + EXCLUDED.held;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER credit_holds_open_count AFTER INSERT OR UPDATE OF status, amount, user_id OR DELETE ON credit_holds
  FOR EACH ROW EXECUTE FUNCTION agentrun_count_holds();

-- What the ledger and the holds say now.
INSERT INTO credit_usage_days (user_id, day, spent, tokens)
SELECT user_id, (created_at AT TIME ZONE 'UTC')::date,
       sum(CASE kind WHEN 'charge' THEN amount ELSE -amount END), sum(CASE kind WHEN 'charge' THEN tokens ELSE 0 END)
  FROM credit_ledger WHERE kind IN ('charge', 'refund') GROUP BY 1, 2;
INSERT INTO credit_open_holds (user_id, held)
SELECT user_id, sum(amount) FROM credit_holds WHERE status = 'held' GROUP BY 1;

-- The same answers as before, from the counts.
CREATE OR REPLACE FUNCTION agentrun_month_spent(p_user_id text) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT coalesce(sum(spent), 0)::bigint FROM credit_usage_days
   WHERE user_id = p_user_id AND day >= date_trunc('month', now() AT TIME ZONE 'UTC')::date
$$;
CREATE OR REPLACE FUNCTION agentrun_open_holds(p_user_id text) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT held FROM credit_open_holds WHERE user_id = p_user_id), 0)::bigint
$$;
CREATE OR REPLACE FUNCTION agentrun_day_tokens(p_user_id text) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT tokens FROM credit_usage_days WHERE user_id = p_user_id AND day = (now() AT TIME ZONE 'UTC')::date), 0)::bigint
$$;

ALTER TABLE credit_usage_days ENABLE ROW LEVEL SECURITY;
ALTER TABLE credit_open_holds ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON credit_usage_days, credit_open_holds FROM PUBLIC, anon, authenticated;
GRANT SELECT ON credit_usage_days, credit_open_holds TO authenticated;
GRANT ALL ON credit_usage_days, credit_open_holds TO service_role;
CREATE POLICY own_usage_days ON credit_usage_days FOR SELECT TO authenticated USING (user_id = agentrun_current_user_id());
CREATE POLICY own_open_holds ON credit_open_holds FOR SELECT TO authenticated USING (user_id = agentrun_current_user_id());
REVOKE ALL ON FUNCTION agentrun_count_usage(), agentrun_count_holds() FROM PUBLIC, anon, authenticated;

-- Down Migration
CREATE OR REPLACE FUNCTION agentrun_month_spent(p_user_id text) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT coalesce(sum(CASE kind WHEN 'charge' THEN amount WHEN 'refund' THEN -amount ELSE 0 END), 0)::bigint
    FROM credit_ledger WHERE user_id = p_user_id AND created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
$$;
CREATE OR REPLACE FUNCTION agentrun_open_holds(p_user_id text) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT coalesce(sum(amount), 0)::bigint FROM credit_holds WHERE user_id = p_user_id AND status = 'held'
$$;
CREATE OR REPLACE FUNCTION agentrun_day_tokens(p_user_id text) RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT coalesce(sum(tokens), 0)::bigint
    FROM credit_ledger WHERE user_id = p_user_id AND kind = 'charge' AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
$$;
DROP TRIGGER IF EXISTS credit_holds_open_count ON credit_holds;
DROP TRIGGER IF EXISTS credit_ledger_usage ON credit_ledger;
DROP FUNCTION IF EXISTS agentrun_count_holds(), agentrun_count_usage();
DROP TABLE IF EXISTS credit_open_holds, credit_usage_days;
