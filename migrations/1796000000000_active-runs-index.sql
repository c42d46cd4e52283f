-- Up Migration
-- Admission (run_admit) counts the user's runs still going. With only the (user_id, id)
-- index that count read every run the user ever had: 9,756 index entries and 1 ms for the
-- bench's user, growing with each user's history. A partial index of the runs still going
-- (the statuses run_admit counts, in the same words) keeps it at what is active now.
CREATE INDEX agent_runs_user_active ON agent_runs (user_id)
  WHERE status IN ('queued','planning','awaiting_approval','running','paused');

-- Down Migration
DROP INDEX IF EXISTS agent_runs_user_active;
