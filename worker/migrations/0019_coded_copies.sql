-- Migration number: 0019 	 Compressed copies of artifacts
-- (outpost_core::content_coding; issue "Confidential, compact, portable
-- artifacts").
--
-- `gzip_size` is the size of the artifact's gzip copy, `gzip_id` which
-- upload it is: the R2 object `orgs/{org}/gzip/sha256/{hex}/{gzip_id}`
-- (each upload its own object, so concurrent uploads never overwrite each
-- other). Recorded only once the copy was decoded and found to be exactly
-- the artifact's bytes, and only if no copy is recorded yet; NULL when none
-- is kept. Never set for an artifact sealed at rest: re-sealing clears them
-- and retires every plaintext copy.
ALTER TABLE blobs ADD COLUMN gzip_size INTEGER;
ALTER TABLE blobs ADD COLUMN gzip_id TEXT;
