-- Migration number: 0007 	 Rollouts: a stage's traffic split is a deployment move too.
--
-- SQLite cannot alter a CHECK constraint, so the history table is rebuilt
-- with 'rollout' among the kinds; every entry is copied as it was.
CREATE TABLE deployments_v2 (
    org        TEXT    NOT NULL,
    model      TEXT    NOT NULL,
    stage      TEXT    NOT NULL CHECK (stage IN ('development', 'staging', 'canary', 'production', 'archived')),
    seq        INTEGER NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('promote', 'rollback', 'rollout', 'cleared')),
    from_state TEXT    NOT NULL, -- JSON StageState
    to_state   TEXT    NOT NULL, -- JSON StageState
    actor      TEXT    NOT NULL,
    reason     TEXT    NOT NULL DEFAULT '',
    at         INTEGER NOT NULL,
    forced     TEXT    NOT NULL DEFAULT '[]', -- JSON array of overridden gates
    PRIMARY KEY (org, model, stage, seq)
);
INSERT INTO deployments_v2 SELECT org, model, stage, seq, kind, from_state, to_state, actor, reason, at, forced FROM deployments;
DROP INDEX deployments_by_time;
DROP TABLE deployments;
ALTER TABLE deployments_v2 RENAME TO deployments;
CREATE INDEX deployments_by_time ON deployments (org, model, at);
