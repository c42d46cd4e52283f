-- Up Migration
-- Nothing reads credit_holds_open since the open holds are counted as they change
-- (1796100000000_usage-counters). It only cost a write on every hold and kept each hold's
-- settlement from being a heap-only update (its predicate's column changes), and between
-- vacuums it filled with settled holds' entries.
DROP INDEX IF EXISTS credit_holds_open;

-- Down Migration
CREATE INDEX IF NOT EXISTS credit_holds_open ON credit_holds (user_id) WHERE status = 'held';
