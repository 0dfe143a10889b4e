-- The id of the last attempt folded into a progress row, so new attempts that sort after it (by answered_at, then id)
-- can be folded on top of the stored state instead of replaying the whole history.
ALTER TABLE progress ADD COLUMN last_attempt_id uuid;
