-- Migration number: 0006 	 Monotonic counters (resolution versions).
--
-- Every resolution the director signs carries the next value of its
-- organisation's counter, so devices can refuse older ones (rollback).
CREATE TABLE counters (
    org   TEXT    NOT NULL,
    name  TEXT    NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (org, name)
);
