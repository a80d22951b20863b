-- Telemetry windows as received (from clients) or recorded (Worker-side
-- predictions): aggregated sketches, never raw requests. Append-only; reports
-- merge them at read time.
CREATE TABLE telemetry_windows (
  id INTEGER PRIMARY KEY,
  org TEXT NOT NULL REFERENCES organizations(name),
  model TEXT NOT NULL,
  version TEXT NOT NULL,
  stage TEXT NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('client', 'worker')),
  received_at INTEGER NOT NULL,
  window TEXT NOT NULL
);
CREATE INDEX telemetry_by_model ON telemetry_windows (org, model, received_at);
