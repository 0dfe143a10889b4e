-- Teams, who is in them with which role, and invite codes.
CREATE TABLE teams (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- An IANA zone name; days, weeks and streaks are counted in it.
    time_zone text NOT NULL DEFAULT 'UTC',
    -- ISO day number the week starts on: 1 = Monday … 7 = Sunday.
    week_start smallint NOT NULL DEFAULT 1 CHECK (week_start BETWEEN 1 AND 7),
    created_by bigint NOT NULL REFERENCES users (id),
    created_at bigint NOT NULL
);

CREATE TABLE memberships (
    team_id bigint NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('member', 'instructor')),
    joined_at bigint NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id);

-- Invite codes are random; only their SHA-256 is stored.
CREATE TABLE invites (
    code_hash bytea PRIMARY KEY,
    team_id bigint NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('member', 'instructor')),
    max_uses integer NOT NULL CHECK (max_uses > 0),
    uses integer NOT NULL DEFAULT 0 CHECK (uses <= max_uses),
    expires_at bigint NOT NULL,
    created_by bigint NOT NULL REFERENCES users (id),
    created_at bigint NOT NULL
);
