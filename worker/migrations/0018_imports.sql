-- Migration number: 0018 	 Imported models (outpost_core::bundle; issue
-- "Confidential, compact, portable artifacts").
--
-- One row per export imported into a model: `id` is the export's identity
-- (SHA-256 of its JSON), so importing the same export again finds its row
-- and changes nothing. `record` is the ImportRecord as JSON: the source, the
-- versions added and found present, the verified releases, and the source's
-- deployment history and audit entries, kept as history beside this
-- organisation's own.
CREATE TABLE imports (
    org         TEXT    NOT NULL REFERENCES organizations (name),
    model       TEXT    NOT NULL,
    id          TEXT    NOT NULL, -- sha256:<hex>
    imported_at INTEGER NOT NULL, -- ms
    record      TEXT    NOT NULL, -- JSON ImportRecord
    PRIMARY KEY (org, model, id)
);
