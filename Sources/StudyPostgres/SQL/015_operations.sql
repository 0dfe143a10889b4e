-- Operations (issue 18): accounts an admin disables, server invite codes for registration by invitation, and users
-- that can be deleted with everything that is theirs.

-- A disabled account cannot log in, and every token it had was revoked when it was disabled.
ALTER TABLE users ADD COLUMN disabled_at bigint;

-- Codes that let someone register on a server whose registration is by invitation. Random; only their SHA-256 is
-- stored, as for team invites.
CREATE TABLE server_invites (
    code_hash bytea PRIMARY KEY CHECK (length(code_hash) = 32),
    max_uses integer NOT NULL CHECK (max_uses > 0),
    uses integer NOT NULL DEFAULT 0 CHECK (uses <= max_uses),
    expires_at bigint NOT NULL,
    created_by bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at bigint NOT NULL
);

-- What a deleted user made for others stays, without their name on it.
ALTER TABLE teams ALTER COLUMN created_by DROP NOT NULL;
ALTER TABLE teams DROP CONSTRAINT teams_created_by_fkey;
ALTER TABLE teams ADD CONSTRAINT teams_created_by_fkey FOREIGN KEY (created_by) REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE invites ALTER COLUMN created_by DROP NOT NULL;
ALTER TABLE invites DROP CONSTRAINT invites_created_by_fkey;
ALTER TABLE invites ADD CONSTRAINT invites_created_by_fkey FOREIGN KEY (created_by) REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE team_decks ALTER COLUMN published_by DROP NOT NULL;
ALTER TABLE team_decks DROP CONSTRAINT team_decks_published_by_fkey;
ALTER TABLE team_decks ADD CONSTRAINT team_decks_published_by_fkey FOREIGN KEY (published_by) REFERENCES users (id) ON DELETE SET NULL;
