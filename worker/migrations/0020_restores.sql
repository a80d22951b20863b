-- Migration number: 0020 	 Restores of organisations from backups.
--
-- A restore writes an organisation that does not exist yet, table by table
-- (`outpost_registry::backup`). Its row exists from the first page to the
-- end: while `finished_at` is NULL the organisation takes restore writes,
-- afterwards never again.
CREATE TABLE restores (
    org         TEXT    PRIMARY KEY,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER
);
