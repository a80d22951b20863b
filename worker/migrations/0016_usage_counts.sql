-- Migration number: 0016 	 Usage per hour for registry statistics
-- (GET /v1/orgs/{org}/stats): resolves per model and artifact downloads per
-- digest, written by each isolate at most every minute or thousand events
-- (outpost_core::stats::Pending), never once per request.
CREATE TABLE usage_counts (
    org      TEXT    NOT NULL,
    kind     TEXT    NOT NULL CHECK (kind IN ('resolve', 'download')),
    subject  TEXT    NOT NULL, -- a model name (resolve) or a digest (download)
    hour     INTEGER NOT NULL, -- ms since the epoch, start of the hour
    count    INTEGER NOT NULL,
    PRIMARY KEY (org, kind, subject, hour)
);
