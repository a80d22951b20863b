-- Migration number: 0005 	 Trust metadata (TUF roles) per organisation.
--
-- Every version of every role is kept and served as an immutable file
-- (consistent snapshots); the newest version of a role is its current one.
CREATE TABLE trust_metadata (
    org        TEXT    NOT NULL,
    role       TEXT    NOT NULL CHECK (role IN ('root', 'targets', 'snapshot', 'timestamp')),
    version    INTEGER NOT NULL,
    body       TEXT    NOT NULL, -- the signed envelope, JSON
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org, role, version)
);
