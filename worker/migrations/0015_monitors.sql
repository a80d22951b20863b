-- Migration number: 0015 	 Monitors: a policy per model and stage that the
-- cron checks every deployed version against (production included), the
-- signal kinds in an episode per version (so an event is raised once per
-- episode), and every check's evaluation.
CREATE TABLE monitors (
    org         TEXT    NOT NULL,
    model       TEXT    NOT NULL,
    stage       TEXT    NOT NULL,
    policy      TEXT    NOT NULL, -- JSON MonitorPolicy
    episodes    TEXT    NOT NULL DEFAULT '{}', -- JSON {version: [kind…]}
    checked_at  INTEGER,
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT    NOT NULL,
    PRIMARY KEY (org, model, stage)
);

CREATE TABLE monitor_checks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    org         TEXT    NOT NULL,
    model       TEXT    NOT NULL,
    stage       TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    evaluation  TEXT    NOT NULL, -- JSON Evaluation
    raised      TEXT    NOT NULL  -- JSON [event…]
);
CREATE INDEX monitor_checks_by_stage ON monitor_checks (org, model, stage, id);
