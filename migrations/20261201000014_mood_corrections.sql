-- Corrections that teach the model. Each correction takes the next number of one sequence
-- (`correction_seq`; a mood corrected again takes a new one): a model records the newest
-- number it was trained on (`mood_models.high_water`), so "corrections since" is a range.
-- Each mood keeps the features of its clip (`features`, of `feature_version`), so a pet's
-- own corrections can adjust its next results before the next retraining. `classifier` says
-- what answered: the built-in model, the model adjusted by the pet's corrections, or an
-- external endpoint (which is no model version of ours).
CREATE SEQUENCE mood_correction_seq;

ALTER TABLE moods
    ADD COLUMN correction_seq  bigint,
    ADD COLUMN features        double precision[],
    ADD COLUMN feature_version integer,
    ADD COLUMN classifier      text NOT NULL DEFAULT 'model'
        CHECK (classifier IN ('model', 'calibrated', 'external')),
    ALTER COLUMN model_version DROP NOT NULL,
    ADD CONSTRAINT moods_model_version_unless_external
        CHECK (classifier = 'external' OR model_version IS NOT NULL);

-- Corrections made before this migration, numbered in the order they were made.
UPDATE moods m SET correction_seq = numbered.seq
FROM (SELECT id, nextval('mood_correction_seq') AS seq
      FROM (SELECT id FROM moods WHERE is_corrected ORDER BY updated_at, id) oldest_first) numbered
WHERE m.id = numbered.id;

CREATE UNIQUE INDEX moods_correction_seq_idx ON moods (correction_seq)
    WHERE correction_seq IS NOT NULL;
CREATE INDEX moods_pet_correction_idx ON moods (pet_id, correction_seq)
    WHERE correction_seq IS NOT NULL;
