-- How many of an archived object's samples carry a position fix: what `track.gpx` counts
-- against its 100 000-point limit before it streams. NULL for objects written before this
-- column existed (a reader then counts all of the object's samples, an upper bound).
ALTER TABLE archive_segments ADD COLUMN fixes bigint CHECK (fixes >= 0);
