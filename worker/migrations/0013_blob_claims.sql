-- Migration number: 0013 	 When an artifact was last asked for again (an
-- upload of content stored already, or the start of one): the cron's
-- collection of artifacts no version refers to counts its grace period from
-- the later of created_at and claimed_at, so a registration that follows a
-- re-upload is never left without its artifact.
ALTER TABLE blobs ADD COLUMN claimed_at INTEGER;
