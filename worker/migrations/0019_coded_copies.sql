-- Migration number: 0019 	 Compressed copies of artifacts
-- (outpost_core::content_coding; issue "Confidential, compact, portable
-- artifacts").
--
-- `gzip_size` is the size of the artifact's gzip copy at
-- `orgs/{org}/gzip/sha256/{hex}` in R2, recorded only once the copy was
-- decoded and found to be exactly the artifact's bytes; NULL when none is
-- kept. Never set for an artifact sealed at rest: re-sealing clears it and
-- retires the plaintext copy.
ALTER TABLE blobs ADD COLUMN gzip_size INTEGER;
