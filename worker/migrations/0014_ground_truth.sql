-- Migration number: 0014 	 Ground truth: Worker predictions kept for
-- feedback (what a classifier predicted per row, kept 30 days), outcomes
-- given for them (one per prediction and row: a repeat is ignored), and
-- outcome windows devices aggregate themselves (one per id: a resend is
-- ignored). Quality is computed from these by outpost_core::quality.
CREATE TABLE predictions (
    org         TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    model       TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    stage       TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    rows        TEXT    NOT NULL, -- JSON [{label, scores?}]
    PRIMARY KEY (org, id)
);
CREATE INDEX predictions_by_age ON predictions (at);

CREATE TABLE feedback (
    org           TEXT    NOT NULL,
    model         TEXT    NOT NULL,
    prediction_id TEXT    NOT NULL,
    row           INTEGER NOT NULL,
    version       TEXT    NOT NULL,
    stage         TEXT    NOT NULL,
    predicted_at  INTEGER NOT NULL,
    received_at   INTEGER NOT NULL,
    outcome       TEXT    NOT NULL, -- JSON LabelledOutcome
    PRIMARY KEY (org, model, prediction_id, row)
);
CREATE INDEX feedback_by_version ON feedback (org, model, version, predicted_at);

CREATE TABLE outcome_windows (
    org         TEXT    NOT NULL,
    model       TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    stage       TEXT    NOT NULL,
    received_at INTEGER NOT NULL,
    window      TEXT    NOT NULL, -- JSON OutcomeWindow
    PRIMARY KEY (org, model, id)
);
CREATE INDEX outcome_windows_by_version ON outcome_windows (org, model, version, received_at);
