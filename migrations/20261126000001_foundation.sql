-- Accounts, pets, family members, collars and geofences.

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    password_hash text NOT NULL,
    display_name  text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- Emails are unique whatever their case.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

-- Refresh tokens are stored hashed. A family is one sign-in's chain of rotations: reuse of a
-- used token revokes the whole family.
CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id   uuid NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

CREATE TABLE pets (
    id          uuid PRIMARY KEY,
    owner_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        text NOT NULL,
    species     text NOT NULL CHECK (species IN ('dog', 'cat', 'other')),
    breed       text,
    birth_date  date,
    weight_kg   double precision CHECK (weight_kg > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pets_owner_idx ON pets (owner_id, created_at, id);

CREATE TABLE pet_members (
    pet_id      uuid NOT NULL REFERENCES pets (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('family')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pet_id, user_id)
);
CREATE INDEX pet_members_user_idx ON pet_members (user_id);

-- A collar is provisioned at the factory (serial + one-time pairing code, stored hashed) and
-- paired to at most one pet; a pet wears at most one collar.
CREATE TABLE collars (
    serial             text PRIMARY KEY,
    pairing_code_hash  bytea NOT NULL,
    pet_id             uuid UNIQUE REFERENCES pets (id) ON DELETE SET NULL,
    interval_s         integer NOT NULL DEFAULT 300 CHECK (interval_s BETWEEN 2 AND 3600),
    provisioned_at     timestamptz NOT NULL DEFAULT now(),
    paired_at          timestamptz
);

CREATE TABLE geofences (
    id          uuid PRIMARY KEY,
    pet_id      uuid NOT NULL REFERENCES pets (id) ON DELETE CASCADE,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('safe', 'keep_out')),
    geometry    jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX geofences_pet_idx ON geofences (pet_id, created_at, id);
