-- Users, their devices, and device tokens. Times are bigint epoch milliseconds throughout.
CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username text NOT NULL UNIQUE CHECK (length(username) BETWEEN 3 AND 32),
    display_name text NOT NULL,
    password_hash text NOT NULL,
    role text NOT NULL DEFAULT 'learner' CHECK (role IN ('learner', 'instructor', 'admin')),
    -- The last per-user attempt sequence number handed out. It is only ever raised inside the pushing transaction
    -- while this row is locked, so a user's attempts commit in sequence order (ARCHITECTURE.md, invariant 4).
    attempt_seq bigint NOT NULL DEFAULT 0,
    leaderboard_opt_out boolean NOT NULL DEFAULT false,
    created_at bigint NOT NULL
);

CREATE TABLE devices (
    id uuid PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name text NOT NULL,
    created_at bigint NOT NULL,
    last_seen_at bigint,
    -- Server clock minus device clock at the device's last sync, in milliseconds.
    clock_offset_ms bigint,
    revoked_at bigint
);
CREATE INDEX devices_by_user ON devices (user_id);

-- Bearer tokens are random; only their SHA-256 is stored.
CREATE TABLE auth_tokens (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    created_at bigint NOT NULL,
    expires_at bigint,
    revoked_at bigint
);
CREATE INDEX auth_tokens_by_device ON auth_tokens (device_id);
