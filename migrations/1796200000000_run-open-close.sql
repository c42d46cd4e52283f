-- Up Migration
-- A run opens and closes in one database call each (issue 13: fewer round trips per run).
-- run_open reserves the run's credits and, only when they were, records its first status;
-- run_close settles or releases its reservation (or neither) and records its last status.
-- Each is its two parts called in order, in one transaction: idempotent by the same keys
-- (a replayed reservation or settlement answers as it did, and run_update never moves a
-- run out of an ending).

CREATE FUNCTION run_open(p_user_id text, p_run_id text, p_amount bigint, p_idempotency_key text,
                         p_default_daily bigint, p_default_monthly bigint, p_status text, p_fields jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_reserved jsonb;
BEGIN
  v_reserved := credit_reserve(p_user_id, p_run_id, p_amount, p_idempotency_key, p_default_daily, p_default_monthly);
  IF (v_reserved->>'ok')::boolean THEN
    PERFORM run_update(p_run_id, p_status, coalesce(p_fields, '{}'::jsonb));
  END IF;
  RETURN v_reserved;
END $$;

CREATE FUNCTION run_close(p_run_id text, p_credits text, p_idempotency_key text, p_status text, p_fields jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_closed jsonb := jsonb_build_object('ok', true);
BEGIN
  IF p_credits = 'settle' THEN
    v_closed := credit_settle(p_run_id, p_idempotency_key);
  ELSIF p_credits = 'release' THEN
    v_closed := credit_release(p_run_id, p_idempotency_key);
  ELSIF p_credits IS DISTINCT FROM 'none' THEN
    RAISE EXCEPTION 'run_close: credits must be settle, release or none, not %', p_credits USING ERRCODE = '22023';
  END IF;
  PERFORM run_update(p_run_id, p_status, coalesce(p_fields, '{}'::jsonb));
  RETURN v_closed;
END $$;

REVOKE ALL ON FUNCTION run_open(text, text, bigint, text, bigint, bigint, text, jsonb) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION run_open(text, text, bigint, text, bigint, bigint, text, jsonb) TO service_role;
REVOKE ALL ON FUNCTION run_close(text, text, text, text, jsonb) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION run_close(text, text, text, text, jsonb) TO service_role;

-- Down Migration
DROP FUNCTION IF EXISTS run_open(text, text, bigint, text, bigint, bigint, text, jsonb), run_close(text, text, text, text, jsonb);
