-- Migration number: 0001 	 Outpost's first schema: cron bookkeeping.
--
-- Every run of the cron trigger leaves one row, so operators (and /readyz)
-- can tell that scheduled jobs fire, and when they last finished.
CREATE TABLE scheduled_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    cron         TEXT    NOT NULL,
    scheduled_at INTEGER NOT NULL, -- ms since the epoch, as the runtime scheduled it
    finished_at  INTEGER NOT NULL, -- ms since the epoch
    outcome      TEXT    NOT NULL CHECK (outcome IN ('ok', 'failed'))
);

CREATE INDEX scheduled_runs_by_time ON scheduled_runs (finished_at);
