-- Migration number: 0017 	 Encryption at rest per organisation
-- (outpost_core::at_rest; issue "Confidential, compact, portable artifacts").
--
-- An organisation with a row here seals new artifacts under `key_version`
-- (AES-256-GCM in 64 KiB chunks, the key derived from the Worker secret
-- OUTPOST_AT_REST_SECRET and this version); the cron re-seals older objects.
CREATE TABLE org_encryption (
    org         TEXT    PRIMARY KEY REFERENCES organizations (name),
    key_version INTEGER NOT NULL CHECK (key_version >= 1),
    enabled_at  INTEGER NOT NULL, -- ms
    rotated_at  INTEGER NOT NULL  -- ms
);

-- Where each artifact's object is now: NULL, plaintext at
-- orgs/{org}/sha256/{hex}; n, sealed at orgs/{org}/sealed/v{n}/sha256/{hex}.
ALTER TABLE blobs ADD COLUMN key_version INTEGER;
-- When the cron last failed to re-seal it (ms): it goes behind the others.
ALTER TABLE blobs ADD COLUMN seal_failed_at INTEGER;

-- Objects replaced by a re-sealed copy, deleted by the cron after a grace
-- period (a download that read the old location just before keeps working).
CREATE TABLE retired_objects (
    object_key TEXT    PRIMARY KEY,
    retired_at INTEGER NOT NULL -- ms
);
