-- Migration number: 0010 	 Monitoring: reference profiles, guardrails, webhooks.

-- A version's reference profile (outpost_core::profile::ReferenceProfile as
-- JSON, bounded well under D1's row size). Written once, like the version.
CREATE TABLE reference_profiles (
    org        TEXT    NOT NULL REFERENCES organizations(name),
    model      TEXT    NOT NULL,
    version    TEXT    NOT NULL,
    profile    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    PRIMARY KEY (org, model, version)
);

-- The guardrails of the rollout now at a stage: set with the rollout, for
-- its canary since `since`; the cron records its last verdict here and
-- removes the row when it rolls the canary back or the rollout changes.
CREATE TABLE guardrails (
    org             TEXT    NOT NULL REFERENCES organizations(name),
    model           TEXT    NOT NULL,
    stage           TEXT    NOT NULL,
    canary          TEXT    NOT NULL,
    since           INTEGER NOT NULL,
    policy          TEXT    NOT NULL, -- JSON outpost_core::guardrail::Guardrails
    checked_at      INTEGER,
    verdict         TEXT,             -- JSON Verdict of the last check
    measured        TEXT,             -- JSON Measured of the last check
    drift_notified  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (org, model, stage)
);

-- Webhook endpoints per organisation. The signing secret is shown once, at
-- creation, and never again.
CREATE TABLE webhooks (
    id          TEXT    PRIMARY KEY,
    org         TEXT    NOT NULL REFERENCES organizations(name),
    url         TEXT    NOT NULL,
    secret      TEXT    NOT NULL,
    events      TEXT    NOT NULL, -- JSON array of event types, or ["*"]
    description TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,
    deleted_at  INTEGER
);
CREATE INDEX webhooks_by_org ON webhooks (org);

-- One message per (event, endpoint), written in the same batch as the change
-- it announces (an outbox): delivered by the cron and right after requests,
-- retried on Standard Webhooks' schedule. `id` is the webhook-id header,
-- the same on every attempt.
CREATE TABLE webhook_deliveries (
    id              TEXT    PRIMARY KEY,
    org             TEXT    NOT NULL,
    webhook         TEXT    NOT NULL REFERENCES webhooks(id),
    event           TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_attempt_at INTEGER,
    response_status INTEGER,
    last_error      TEXT
);
CREATE INDEX deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX deliveries_by_webhook ON webhook_deliveries (org, webhook, created_at);
