-- Live collar data: alerts, commands sent to collars, voice clips, per-pet heart-rate bands.

-- A per-pet heart-rate band overrides the species default (beats per minute).
ALTER TABLE pets
    ADD COLUMN hr_min integer CHECK (hr_min BETWEEN 1 AND 400),
    ADD COLUMN hr_max integer CHECK (hr_max BETWEEN 1 AND 400),
    ADD CONSTRAINT pets_hr_band CHECK (hr_min IS NULL OR hr_max IS NULL OR hr_min < hr_max);

CREATE TABLE alerts (
    id               uuid PRIMARY KEY,
    pet_id           uuid NOT NULL REFERENCES pets (id) ON DELETE CASCADE,
    serial           text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('geofence_exit', 'geofence_enter', 'heart_rate_high',
                         'heart_rate_low', 'battery_low', 'collar_offline', 'mood_distress')),
    at               timestamptz NOT NULL,
    details          jsonb NOT NULL DEFAULT '{}',
    acknowledged_at  timestamptz,
    acknowledged_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_pet_idx ON alerts (pet_id, created_at DESC, id DESC);

-- Commands sent to collars and what the collar answered.
CREATE TABLE collar_commands (
    id          uuid PRIMARY KEY,
    serial      text NOT NULL REFERENCES collars (serial) ON DELETE CASCADE,
    pet_id      uuid REFERENCES pets (id) ON DELETE SET NULL,
    requested_by uuid REFERENCES users (id) ON DELETE SET NULL,
    command     jsonb NOT NULL,
    sent_at     timestamptz NOT NULL DEFAULT now(),
    acked_at    timestamptz,
    ok          boolean,
    error       text
);
CREATE INDEX collar_commands_pet_idx ON collar_commands (pet_id, sent_at DESC);

-- Voice clips: the audio is in S3; (serial, seq) makes a redelivered clip harmless.
CREATE TABLE voice_clips (
    serial       text NOT NULL REFERENCES collars (serial) ON DELETE CASCADE,
    seq          bigint NOT NULL,
    pet_id       uuid REFERENCES pets (id) ON DELETE SET NULL,
    at           timestamptz NOT NULL,
    s3_key       text NOT NULL,
    rate_hz      integer NOT NULL,
    duration_ms  integer NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (serial, seq)
);
