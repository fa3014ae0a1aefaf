-- Access that follows the right to it.
--
-- Invitations to a pet's family. Adding a member by email invites that address whether or
-- not an account has it, so the answer never tells which emails have accounts; the account
-- with that email (now, or once it registers) sees the invitation and accepts or declines.
CREATE TABLE pet_invitations (
    id          uuid PRIMARY KEY,
    pet_id      uuid NOT NULL REFERENCES pets (id) ON DELETE CASCADE,
    email       text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    role        text NOT NULL CHECK (role IN ('family')),
    invited_by  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
-- One invitation per pet and address (emails compare case-insensitively, as for users).
CREATE UNIQUE INDEX pet_invitations_pet_email_idx ON pet_invitations (pet_id, lower(email));
CREATE INDEX pet_invitations_email_idx ON pet_invitations (lower(email), created_at, id);

-- A member who leaves (or is removed) loses the links they made: find them by creator.
CREATE INDEX share_links_creator_idx ON share_links (pet_id, created_by)
    WHERE revoked_at IS NULL;
