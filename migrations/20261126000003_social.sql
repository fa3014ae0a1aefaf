-- The social feed (posts with media on S3, follows, likes, comments, the fan-out outbox) and
-- notifications with push devices.

CREATE TABLE posts (
    id                  uuid PRIMARY KEY,
    author_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    pet_id              uuid REFERENCES pets (id) ON DELETE SET NULL,
    caption             text NOT NULL,
    media_key           text NOT NULL,
    media_content_type  text NOT NULL,
    media_size_bytes    bigint NOT NULL CHECK (media_size_bytes > 0),
    -- 'pending' until the upload is checked and the post published.
    status              text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'published')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    published_at        timestamptz
);
CREATE INDEX posts_author_idx ON posts (author_id, published_at DESC, id DESC) WHERE status = 'published';

CREATE TABLE follows (
    follower_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (follower_id, followee_id),
    CHECK (follower_id <> followee_id)
);
CREATE INDEX follows_followee_idx ON follows (followee_id);

CREATE TABLE likes (
    post_id     uuid NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (post_id, user_id)
);

CREATE TABLE comments (
    id          uuid PRIMARY KEY,
    post_id     uuid NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    author_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    text        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX comments_post_idx ON comments (post_id, created_at, id);

-- Transactional outbox: a published post and its fan-out row commit together; the feed
-- fan-out supervisor drains unprocessed rows into Redis timelines.
CREATE TABLE feed_outbox (
    id            bigserial PRIMARY KEY,
    post_id       uuid NOT NULL,
    author_id     uuid NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    processed_at  timestamptz
);
CREATE INDEX feed_outbox_pending_idx ON feed_outbox (id) WHERE processed_at IS NULL;

CREATE TABLE push_devices (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    platform      text NOT NULL CHECK (platform IN ('apns', 'fcm')),
    token_hash    bytea NOT NULL,
    endpoint_arn  text NOT NULL,
    enabled       boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz,
    UNIQUE (platform, token_hash)
);
CREATE INDEX push_devices_user_idx ON push_devices (user_id) WHERE enabled;

CREATE TABLE notifications (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        text NOT NULL,
    at          timestamptz NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}',
    read_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at DESC, id DESC);

-- Pushes still owed: one row per notification and device, kept until SNS takes it, so
-- nothing is lost while SNS is down.
CREATE TABLE push_outbox (
    id               bigserial PRIMARY KEY,
    notification_id  uuid NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    device_id        uuid NOT NULL REFERENCES push_devices (id) ON DELETE CASCADE,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    last_error       text
);
CREATE INDEX push_outbox_due_idx ON push_outbox (next_attempt_at) WHERE delivered_at IS NULL;
