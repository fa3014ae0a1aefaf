-- The archive manifest: one row per S3 object of raw telemetry (one collar, one UTC day, one
-- part). A row is written only after its object was uploaded and read back with the same
-- count and checksum (state 'verified'); it becomes 'deleted' once its samples are gone from
-- MongoDB, so a pass killed in between finishes the delete on the next pass.
CREATE TABLE archive_segments (
    serial      text NOT NULL,
    pet_id      uuid REFERENCES pets (id) ON DELETE CASCADE,
    day         date NOT NULL,
    part        integer NOT NULL CHECK (part >= 0),
    key         text NOT NULL UNIQUE,
    count       bigint NOT NULL CHECK (count > 0),
    first_ts    timestamptz NOT NULL,
    last_ts     timestamptz NOT NULL,
    sha256      text NOT NULL,
    bytes       bigint NOT NULL,
    state       text NOT NULL DEFAULT 'verified' CHECK (state IN ('verified', 'deleted')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (serial, day, part)
);
CREATE INDEX archive_segments_pet_idx ON archive_segments (pet_id, day);
CREATE INDEX archive_segments_pending_idx ON archive_segments (state) WHERE state <> 'deleted';

-- S3 objects whose manifest row is gone (its pet was deleted) and that are still to be
-- deleted from S3: filled by a trigger in the transaction that deletes the rows, so a pet
-- deletion cannot forget its objects whatever S3 does; emptied once S3 confirms.
CREATE TABLE archive_orphans (
    key         text PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION archive_segment_orphaned() RETURNS trigger AS $$
BEGIN
    INSERT INTO archive_orphans (key) VALUES (OLD.key) ON CONFLICT DO NOTHING;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER archive_segments_orphan
    AFTER DELETE ON archive_segments
    FOR EACH ROW EXECUTE FUNCTION archive_segment_orphaned();
