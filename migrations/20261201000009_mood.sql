-- Mood models: the serialised model lives in S3 (`models/mood/{version}-{random}.json`); this table lists
-- the versions, what each was trained on and how it scored on the held-out pets. A candidate
-- becomes active only if it is not worse than the active one on the same split; the one it
-- replaces is retired (kept, so a model's history can be read and compared).
CREATE TABLE mood_models (
    version          bigserial PRIMARY KEY,
    status           text NOT NULL CHECK (status IN ('candidate', 'active', 'retired')),
    feature_version  integer NOT NULL,
    s3_key           text NOT NULL,
    training_clips   integer NOT NULL CHECK (training_clips >= 0),
    extra_clips      integer NOT NULL CHECK (extra_clips >= 0),
    -- The newest labelled clip (correction) in the training set: retraining counts from here.
    high_water       bigint,
    metrics          jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    promoted_at      timestamptz
);
-- At most one active model, whatever runs at once.
CREATE UNIQUE INDEX mood_models_one_active_idx ON mood_models ((true)) WHERE status = 'active';

-- Every training run, promoted or not, with both scores on the same held-out split.
CREATE TABLE mood_training_runs (
    id                  bigserial PRIMARY KEY,
    trigger             text NOT NULL CHECK (trigger IN ('seed', 'command', 'scheduled')),
    started_at          timestamptz NOT NULL,
    finished_at         timestamptz NOT NULL DEFAULT now(),
    candidate_version   bigint REFERENCES mood_models (version),
    active_version      bigint REFERENCES mood_models (version),
    training_clips      integer NOT NULL DEFAULT 0,
    extra_clips         integer NOT NULL DEFAULT 0,
    candidate_macro_f1  double precision,
    active_macro_f1     double precision,
    promoted            boolean NOT NULL DEFAULT false,
    error               text
);
CREATE INDEX mood_training_runs_started_idx ON mood_training_runs (started_at DESC);
