-- Decks and every version of every question the server has seen, so it can grade any attempt (invariant 8).
CREATE TABLE question_versions (
    question_id text NOT NULL,
    version text NOT NULL,
    prompt text NOT NULL,
    options text[] NOT NULL CHECK (cardinality(options) BETWEEN 2 AND 10),
    correct smallint[] NOT NULL CHECK (cardinality(correct) >= 1),
    PRIMARY KEY (question_id, version)
);

CREATE TABLE decks (
    id text PRIMARY KEY,
    name text NOT NULL,
    created_at bigint NOT NULL
);

CREATE TABLE deck_questions (
    deck_id text NOT NULL REFERENCES decks (id) ON DELETE CASCADE,
    position integer NOT NULL,
    question_id text NOT NULL,
    version text NOT NULL,
    PRIMARY KEY (deck_id, position),
    FOREIGN KEY (question_id, version) REFERENCES question_versions (question_id, version)
);
CREATE INDEX deck_questions_by_question ON deck_questions (question_id);

-- A deck published to a team reaches its members on their next sync.
CREATE TABLE team_decks (
    team_id bigint NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    deck_id text NOT NULL REFERENCES decks (id),
    deck_name text NOT NULL,
    published_by bigint NOT NULL REFERENCES users (id),
    published_at bigint NOT NULL,
    PRIMARY KEY (team_id, deck_id)
);
