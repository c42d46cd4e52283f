-- Up Migration
-- The audit trail: who did what to a run, and when. One row per control action taken
-- through the API (approve, reject, pause, resume, message, cancel, retry; extra credits
-- travel with an approval). Append-only, like the credit ledger. `user_id` is the run's
-- owner (what row-level security filters on); `actor` is who acted (the caller's user id,
-- an operator acting on another user's run, or a non-API source such as `temporal-direct`).

CREATE TABLE agent_audit (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id     text NOT NULL CHECK (run_id ~ '^run_[0-9a-z]{26}$'),
  user_id    text NOT NULL CHECK (length(user_id) BETWEEN 1 AND 128),
  actor      text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
  actor_kind text NOT NULL CHECK (actor_kind IN ('jwt','api_key','none','temporal')),
  action     text NOT NULL CHECK (action IN ('approve','reject','pause','resume','message','cancel','retry')),
  detail     jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- Set by writers that may retry (the worker recording a signal sent to Temporal directly): one row per key.
  source_key text UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_audit_run ON agent_audit (run_id, id);
CREATE INDEX agent_audit_user_created ON agent_audit (user_id, created_at DESC);

CREATE TRIGGER agent_audit_no_update BEFORE UPDATE OR DELETE ON agent_audit
  FOR EACH ROW EXECUTE FUNCTION agentrun_ledger_append_only();
CREATE TRIGGER agent_audit_no_truncate BEFORE TRUNCATE ON agent_audit
  FOR EACH STATEMENT EXECUTE FUNCTION agentrun_ledger_append_only();

-- Records one action; returns its row as {id, created_at}. With p_source_key, a repeat returns the first row.
CREATE FUNCTION audit_record(p_run_id text, p_user_id text, p_actor text, p_actor_kind text, p_action text,
                             p_detail jsonb DEFAULT '{}'::jsonb, p_source_key text DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  v_row agent_audit;
BEGIN
  INSERT INTO agent_audit (run_id, user_id, actor, actor_kind, action, detail, source_key)
  VALUES (p_run_id, p_user_id, p_actor, p_actor_kind, p_action, coalesce(p_detail, '{}'::jsonb), p_source_key)
  ON CONFLICT (source_key) DO NOTHING
  RETURNING * INTO v_row;
  IF NOT FOUND THEN
    SELECT * INTO v_row FROM agent_audit WHERE source_key = p_source_key;
  END IF;
  RETURN jsonb_build_object('id', v_row.id, 'created_at', v_row.created_at);
END $$;

-- A run's audit rows, oldest first (for the API and tools using the service role).
CREATE FUNCTION audit_list(p_run_id text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'run_id', run_id, 'user_id', user_id, 'actor', actor,
           'actor_kind', actor_kind, 'action', action, 'detail', detail, 'created_at', created_at) ORDER BY id), '[]'::jsonb)
  FROM agent_audit WHERE run_id = p_run_id
$$;

ALTER TABLE agent_audit ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON agent_audit FROM PUBLIC, anon, authenticated;
GRANT SELECT ON agent_audit TO authenticated;
GRANT SELECT, INSERT ON agent_audit TO service_role;
CREATE POLICY own_audit ON agent_audit FOR SELECT TO authenticated USING (user_id = agentrun_current_user_id());

REVOKE ALL ON FUNCTION audit_record(text, text, text, text, text, jsonb, text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION audit_record(text, text, text, text, text, jsonb, text) TO service_role;
REVOKE ALL ON FUNCTION audit_list(text) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION audit_list(text) TO service_role;

-- Down Migration
DROP FUNCTION IF EXISTS audit_list(text);
DROP FUNCTION IF EXISTS audit_record(text, text, text, text, text, jsonb, text);
DROP TABLE IF EXISTS agent_audit;
