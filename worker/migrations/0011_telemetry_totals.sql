-- Migration number: 0011 	 Telemetry older than any report's window is
-- compacted by the cron into per-(model, version, stage, source) totals, so
-- telemetry_windows stays bounded while /metrics counters keep counting.
CREATE TABLE telemetry_totals (
    org       TEXT    NOT NULL REFERENCES organizations(name),
    model     TEXT    NOT NULL,
    version   TEXT    NOT NULL,
    stage     TEXT    NOT NULL,
    source    TEXT    NOT NULL,
    calls     INTEGER NOT NULL,
    errors    INTEGER NOT NULL,
    rows      INTEGER NOT NULL,
    latency   TEXT    NOT NULL, -- JSON array: counts per latency bin (LATENCY_BOUNDS_US + open bin)
    compacted_through INTEGER NOT NULL, -- windows received before this (ms) are included
    PRIMARY KEY (org, model, version, stage, source)
);
