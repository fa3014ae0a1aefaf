-- Nothing lost: pairing history (a backlog sample is stored under the pet of its time) and
-- the spool of voice clips that S3 did not take yet.

-- Which pet a collar was on when. A collar actor loads the last month of it, so a sample
-- uploaded late is attributed to the pet the collar was on at the sample's time, and a
-- re-paired collar's backlog never reaches its new owner.
CREATE TABLE collar_pairings (
    serial       text NOT NULL REFERENCES collars (serial) ON DELETE CASCADE,
    pet_id       uuid NOT NULL REFERENCES pets (id) ON DELETE CASCADE,
    paired_at    timestamptz NOT NULL,
    unpaired_at  timestamptz,
    PRIMARY KEY (serial, paired_at)
);
CREATE INDEX collar_pairings_open_idx ON collar_pairings (pet_id) WHERE unpaired_at IS NULL;
INSERT INTO collar_pairings (serial, pet_id, paired_at)
    SELECT serial, pet_id, paired_at FROM collars WHERE pet_id IS NOT NULL AND paired_at IS NOT NULL;

-- Voice clips whose upload to S3 failed: the WAV waits here (the MQTT message is
-- acknowledged once it is here) until the spool drainer puts it in S3 and records it in
-- voice_clips. Bounded by the server (PETTYSYNC docs: "Guarantees and limits").
CREATE TABLE voice_spool (
    serial           text NOT NULL REFERENCES collars (serial) ON DELETE CASCADE,
    seq              bigint NOT NULL,
    pet_id           uuid REFERENCES pets (id) ON DELETE SET NULL,
    at               timestamptz NOT NULL,
    rate_hz          integer NOT NULL,
    duration_ms      integer NOT NULL,
    wav              bytea NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (serial, seq)
);
CREATE INDEX voice_spool_due_idx ON voice_spool (next_attempt_at);
