-- Access that follows the right to it.
--
-- A member who leaves (or is removed) loses the links they made: find them by creator.
CREATE INDEX share_links_creator_idx ON share_links (pet_id, created_by)
    WHERE revoked_at IS NULL;
