-- What a stage's shadow version answered for a Worker-side prediction, next to
-- what the caller got (the shadow's answer is recorded, never returned).
CREATE TABLE shadow_results (
  id INTEGER PRIMARY KEY,
  org TEXT NOT NULL REFERENCES organizations(name),
  model TEXT NOT NULL,
  stage TEXT NOT NULL,
  device TEXT,
  version TEXT NOT NULL,
  outputs TEXT,
  shadow_version TEXT NOT NULL,
  shadow_outputs TEXT,
  shadow_error TEXT,
  shadow_ms REAL NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX shadow_results_by_model ON shadow_results (org, model, id);
