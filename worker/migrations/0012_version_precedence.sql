-- Migration number: 0012 	 Versions order by SemVer 2.0.0 §11 precedence
-- everywhere (latest, bump, search), through a stored text key whose byte
-- order is precedence: outpost_core::version::precedence_key writes it for
-- new versions; this backfills rows stored before it with the same key.
-- Before, pre-releases were compared as text (beta.10 < beta.2). The
-- backfill reads MAJOR.MINOR.PATCH from their INTEGER columns, exact below
-- 2^53; a row with a larger part (none is expected) would need its key
-- rewritten by re-registering under a new version.
ALTER TABLE versions ADD COLUMN precedence TEXT NOT NULL DEFAULT '';

-- A number n (decimal text): length(length(n)) || length(n) || n.
UPDATE versions SET precedence =
    length(length(CAST(major AS TEXT))) || length(CAST(major AS TEXT)) || CAST(major AS TEXT)
 || length(length(CAST(minor AS TEXT))) || length(CAST(minor AS TEXT)) || CAST(minor AS TEXT)
 || length(length(CAST(patch AS TEXT))) || length(CAST(patch AS TEXT)) || CAST(patch AS TEXT)
 || CASE WHEN prerelease = '' THEN '~' ELSE
      '-' || (
        SELECT group_concat(
                 CASE WHEN value GLOB '[0-9]*' AND value NOT GLOB '*[^0-9]*'
                      THEN '1' || length(length(value)) || length(value) || value
                      ELSE '2' || value || '!' END,
                 '' ORDER BY key)
        FROM json_each('["' || replace(prerelease, '.', '","') || '"]')
      ) || '.'
    END;

CREATE INDEX versions_by_precedence ON versions (org, model, precedence);
