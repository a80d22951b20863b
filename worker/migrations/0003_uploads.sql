-- Migration number: 0003 	 Resumable multipart uploads of large artifacts.
--
-- One open upload per (org, digest): a client that was interrupted asks again
-- for the same digest and gets the same upload back, with the parts already
-- received, so resuming needs no state on the client.
CREATE TABLE uploads (
    org          TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    digest       TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    part_size    INTEGER NOT NULL,
    r2_upload_id TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    created_by   TEXT,
    PRIMARY KEY (org, id),
    UNIQUE (org, digest)
);

CREATE TABLE upload_parts (
    org         TEXT    NOT NULL,
    upload_id   TEXT    NOT NULL,
    part_number INTEGER NOT NULL,
    etag        TEXT    NOT NULL,
    sha256      TEXT    NOT NULL,
    size        INTEGER NOT NULL,
    PRIMARY KEY (org, upload_id, part_number)
);
