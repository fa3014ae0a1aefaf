-- A collar's pairing history outlives the pets it was on: deleting a pet closes its pairing
-- and keeps the span with no pet, so a collar re-paired afterwards knows it was on another
-- pet then, and a backlog it recorded in that time is given to no pet (not to the new one).
ALTER TABLE collar_pairings ALTER COLUMN pet_id DROP NOT NULL;
ALTER TABLE collar_pairings DROP CONSTRAINT collar_pairings_pet_id_fkey;
ALTER TABLE collar_pairings ADD CONSTRAINT collar_pairings_pet_id_fkey
    FOREIGN KEY (pet_id) REFERENCES pets (id) ON DELETE SET NULL;
