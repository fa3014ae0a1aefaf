-- Share links: time-limited, revocable live views of one pet for vets and sitters. Only the
-- SHA-256 of a link's token is stored; the token is shown once, at creation.

CREATE TABLE share_links (
    id          uuid PRIMARY KEY,
    pet_id      uuid NOT NULL REFERENCES pets (id) ON DELETE CASCADE,
    created_by  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label       text CHECK (char_length(label) <= 100),
    token_hash  bytea NOT NULL UNIQUE,
    -- A non-empty subset of the four scopes; the server stores them without repeats.
    scopes      text[] NOT NULL CHECK (
                    cardinality(scopes) BETWEEN 1 AND 4
                    AND scopes <@ ARRAY['location', 'vitals', 'mood', 'alerts']::text[]),
    precision   text NOT NULL CHECK (precision IN ('exact', 'approximate')),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX share_links_pet_idx ON share_links (pet_id, created_at, id);
