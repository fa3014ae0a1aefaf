-- Roll-ups: a pet's statistics per quarter hour (every UTC offset since 1980 is a whole
-- number of quarters, so a day in any zone is a sum of quarters), hourly rows over them,
-- and the hours ingest marked for recomputation.

CREATE TABLE pet_stats_quarter (
    pet_id      uuid NOT NULL REFERENCES pets (id) ON DELETE CASCADE,
    start_at    timestamptz NOT NULL,
    samples     bigint NOT NULL,
    hr_min      integer,
    hr_max      integer,
    hr_sum      bigint NOT NULL,
    hr_count    bigint NOT NULL,
    steps       bigint NOT NULL,
    distance_m  double precision NOT NULL,
    active_ms   bigint NOT NULL,
    rest_ms     bigint NOT NULL,
    sleep_ms    bigint NOT NULL,
    PRIMARY KEY (pet_id, start_at)
);

-- The issue's hourly buckets, as UTC hours summed from their quarters.
CREATE VIEW pet_stats_hourly AS
SELECT pet_id,
       date_trunc('hour', start_at, 'UTC') AS hour,
       sum(samples)::bigint AS samples,
       min(hr_min) AS hr_min,
       max(hr_max) AS hr_max,
       sum(hr_sum)::bigint AS hr_sum,
       sum(hr_count)::bigint AS hr_count,
       round(sum(hr_sum)::numeric / nullif(sum(hr_count), 0), 1) AS hr_avg,
       sum(steps)::bigint AS steps,
       sum(distance_m) AS distance_m,
       sum(active_ms)::bigint AS active_ms,
       sum(rest_ms)::bigint AS rest_ms,
       sum(sleep_ms)::bigint AS sleep_ms
FROM pet_stats_quarter
GROUP BY pet_id, date_trunc('hour', start_at, 'UTC');

-- Hours whose figures are stale. No foreign key: ingest must never fail on a pet deleted a
-- moment ago; a pass drops the marks of pets that are gone. `version` grows on every mark,
-- so a pass clears only the marks it computed, not one set again meanwhile.
CREATE TABLE rollup_dirty (
    pet_id     uuid NOT NULL,
    hour       timestamptz NOT NULL,
    version    bigint NOT NULL DEFAULT 1,
    marked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pet_id, hour)
);
CREATE INDEX rollup_dirty_marked_idx ON rollup_dirty (marked_at);
