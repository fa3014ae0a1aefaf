-- The mood queue and the moods. Each voice clip carries its classification status: new clips
-- of a paired collar are `pending`, clips of a collar with no pet `skipped`; a server claims
-- pending clips with FOR UPDATE SKIP LOCKED and a lease (`mood_claimed_until`), so a second
-- node never takes the same clip and a crashed node's claims come back when the lease ends.
-- Clips stored before this migration are not classified (`skipped`).
ALTER TABLE voice_clips
    ADD COLUMN id                 uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    ADD COLUMN mood_status        text NOT NULL DEFAULT 'skipped'
        CHECK (mood_status IN ('pending', 'done', 'failed', 'skipped')),
    ADD COLUMN mood_attempts      integer NOT NULL DEFAULT 0,
    ADD COLUMN mood_error         text,
    ADD COLUMN mood_claimed_until timestamptz;
ALTER TABLE voice_clips ALTER COLUMN mood_status SET DEFAULT 'pending';
CREATE INDEX voice_clips_mood_pending_idx ON voice_clips (created_at)
    WHERE mood_status = 'pending';

-- One classification per clip (the original design's columns, plus what evaluation needs:
-- the model's own answer, kept when an owner corrects `mood`, and its class probabilities).
CREATE TABLE moods (
    id              uuid PRIMARY KEY,
    user_id         uuid REFERENCES users (id) ON DELETE SET NULL,
    mood            text NOT NULL CHECK (mood IN ('calm', 'happy', 'anxious', 'angry', 'sad')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    voice_id        uuid NOT NULL UNIQUE REFERENCES voice_clips (id) ON DELETE CASCADE,
    is_corrected    boolean NOT NULL DEFAULT false,
    pet_id          uuid NOT NULL REFERENCES pets (id) ON DELETE CASCADE,
    confidence      double precision NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    model_version   bigint NOT NULL REFERENCES mood_models (version),
    predicted_mood  text NOT NULL CHECK (predicted_mood IN ('calm', 'happy', 'anxious', 'angry', 'sad')),
    probs           jsonb NOT NULL,
    -- When the clip was recorded: lists and ranges go by this.
    at              timestamptz NOT NULL
);
CREATE INDEX moods_pet_at_idx ON moods (pet_id, at DESC);
