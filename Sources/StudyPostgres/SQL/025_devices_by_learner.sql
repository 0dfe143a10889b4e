-- A learner's devices and tokens reachable by the learner's id (issue 21): on Citus both are distributed by user_id
-- with the attempts (SQL/citus/distribute.sql), where a key must hold the distribution column. Here the keys gain
-- the learner: a device is unique per (learner, id) too, and a token points at its device through the learner. The
-- single-column keys stay on one PostgreSQL (a device id of another learner is still refused by devices_pkey).
ALTER TABLE devices ADD CONSTRAINT devices_user_id_id UNIQUE (user_id, id);
ALTER TABLE auth_tokens DROP CONSTRAINT auth_tokens_device_id_fkey;
ALTER TABLE auth_tokens ADD CONSTRAINT auth_tokens_device FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, id) ON DELETE CASCADE;
DROP INDEX auth_tokens_by_device;
CREATE INDEX auth_tokens_by_device ON auth_tokens (user_id, device_id);
