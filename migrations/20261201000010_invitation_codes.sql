-- An invitation to an address without an account is claimed with the code the owner passes
-- on (there is no email verification, so registering the address alone must not be enough).
-- Only its SHA-256 is kept; invitations from before have none and cannot be claimed.
ALTER TABLE pet_invitations ADD COLUMN code_hash bytea;
CREATE UNIQUE INDEX pet_invitations_code_idx ON pet_invitations (code_hash);
