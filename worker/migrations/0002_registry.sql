-- Migration number: 0002 	 The registry: organisations, tokens, models, blobs, versions, audit.
--
-- Every table is keyed by organisation first: every query names the org, so
-- no statement can reach another tenant's rows. Uniqueness constraints, not
-- read-then-write checks, decide races (a duplicate version is a failed insert).
-- Times are ms since the epoch.

CREATE TABLE organizations (
    name         TEXT    PRIMARY KEY,
    display_name TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
);

-- Tokens are stored as a hash of their secret only; the id is public.
CREATE TABLE tokens (
    id          TEXT    PRIMARY KEY,
    org         TEXT    NOT NULL REFERENCES organizations (name),
    name        TEXT    NOT NULL,
    role        TEXT    NOT NULL CHECK (role IN ('viewer', 'developer', 'operator', 'admin')),
    secret_hash TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT,
    expires_at  INTEGER,
    revoked_at  INTEGER
);
CREATE INDEX tokens_by_org ON tokens (org, created_at);

CREATE TABLE models (
    org            TEXT    NOT NULL REFERENCES organizations (name),
    name           TEXT    NOT NULL,
    description    TEXT    NOT NULL DEFAULT '',
    owner          TEXT,
    tags           TEXT    NOT NULL DEFAULT '[]', -- JSON array of strings
    primary_metric TEXT,                          -- JSON {name, higher_is_better}
    created_at     INTEGER NOT NULL,
    created_by     TEXT,
    PRIMARY KEY (org, name)
);

-- A blob row exists only once its bytes are in R2 and verified.
CREATE TABLE blobs (
    org        TEXT    NOT NULL REFERENCES organizations (name),
    digest     TEXT    NOT NULL, -- sha256:<hex>
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT,
    PRIMARY KEY (org, digest)
);

CREATE TABLE versions (
    org             TEXT    NOT NULL,
    model           TEXT    NOT NULL,
    version         TEXT    NOT NULL,
    -- Numeric parts for semver ordering in SQL; prerelease '' sorts last.
    major           INTEGER NOT NULL,
    minor           INTEGER NOT NULL,
    patch           INTEGER NOT NULL,
    prerelease      TEXT    NOT NULL DEFAULT '',
    digest          TEXT    NOT NULL,
    size            INTEGER NOT NULL,
    format          TEXT    NOT NULL,
    framework       TEXT,
    schema          TEXT,                          -- JSON
    metrics         TEXT    NOT NULL DEFAULT '{}', -- JSON object name → number
    params          TEXT    NOT NULL DEFAULT '{}', -- JSON object
    dataset_version TEXT,
    parent_version  TEXT,
    tags            TEXT    NOT NULL DEFAULT '[]', -- JSON array
    notes           TEXT    NOT NULL DEFAULT '',
    author          TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('ready', 'unsafe')),
    status_reason   TEXT,
    PRIMARY KEY (org, model, version),
    FOREIGN KEY (org, model) REFERENCES models (org, name),
    FOREIGN KEY (org, digest) REFERENCES blobs (org, digest)
);
CREATE INDEX versions_by_created ON versions (org, created_at);
CREATE INDEX versions_by_digest ON versions (org, digest);

-- Append-only, hash-chained: each entry stores the hash of the previous entry
-- of its organisation and its own. (org, seq) is unique, so two writers racing
-- for the same position cannot both succeed.
CREATE TABLE audit_log (
    org         TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    actor       TEXT,              -- token id, or 'bootstrap'
    role        TEXT,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('ok', 'denied')),
    details     TEXT    NOT NULL DEFAULT '{}', -- JSON
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL,
    PRIMARY KEY (org, seq)
);
