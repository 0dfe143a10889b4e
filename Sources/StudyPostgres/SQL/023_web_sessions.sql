-- The dashboard's sign-ins (issue 22): a browser's session, apart from the devices' tokens. Only the SHA-256 of the
-- cookie's random token is kept; signing out revokes the row, and a new sign-in clears the user's dead ones.
CREATE TABLE web_sessions (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    revoked_at bigint
);
CREATE INDEX web_sessions_by_user ON web_sessions (user_id);
