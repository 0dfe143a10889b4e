-- The foreign key from attempts to users checked every copied row one by one and took most of a push's time (COPY of
-- 5,000 attempts: ~190 ms with it, ~75 ms without, on the benchmark machine). It guarded nothing the insert path does
-- not already guarantee: attempts are only written while the user's row is locked FOR UPDATE, so the user exists.
ALTER TABLE attempts DROP CONSTRAINT attempts_user_id_fkey;
