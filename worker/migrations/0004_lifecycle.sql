-- Migration number: 0004 	 Lifecycle: deployment history and per-model policies.
--
-- A stage's current state is the newest entry of its history; nothing else
-- stores it. (org, model, stage, seq) is unique, so concurrent moves of one
-- stage are serialised: a writer that lost the race re-reads and retries.
CREATE TABLE deployments (
    org        TEXT    NOT NULL,
    model      TEXT    NOT NULL,
    stage      TEXT    NOT NULL CHECK (stage IN ('development', 'staging', 'canary', 'production', 'archived')),
    seq        INTEGER NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('promote', 'rollback', 'cleared')),
    from_state TEXT    NOT NULL, -- JSON StageState
    to_state   TEXT    NOT NULL, -- JSON StageState
    actor      TEXT    NOT NULL,
    reason     TEXT    NOT NULL DEFAULT '',
    at         INTEGER NOT NULL,
    forced     TEXT    NOT NULL DEFAULT '[]', -- JSON array of overridden gates
    PRIMARY KEY (org, model, stage, seq)
);
CREATE INDEX deployments_by_time ON deployments (org, model, at);

CREATE TABLE model_policies (
    org        TEXT    NOT NULL,
    model      TEXT    NOT NULL,
    promotion  TEXT    NOT NULL DEFAULT '{"rules":[]}', -- JSON PromotionPolicy
    retention  TEXT,                                   -- JSON RetentionPolicy
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (org, model)
);
