-- Attempts are immutable facts (invariant 1): rows are inserted, never updated or deleted by sync.
CREATE TABLE study_sessions (
    id uuid PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id uuid NOT NULL,
    deck_id text,
    started_at bigint NOT NULL
);

CREATE TABLE attempts (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Per-user, gap-free, assigned from users.attempt_seq under that row's lock (invariant 4). Pull cursors are these.
    seq bigint NOT NULL,
    id uuid NOT NULL,
    device_id uuid NOT NULL,
    question_id text NOT NULL,
    question_version text NOT NULL,
    chosen smallint[] NOT NULL,
    correct boolean NOT NULL,
    answered_at bigint NOT NULL,
    duration_ms bigint NOT NULL CHECK (duration_ms >= 0),
    session_id uuid NOT NULL,
    received_at bigint NOT NULL,
    -- Bit set of AttemptFlags (StudyCore): set by the server's grading and plausibility checks; flagged attempts stay
    -- in the learner's own progress but do not count on leaderboards.
    flags integer NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, seq)
);
-- Merge is set union on the client-made id (invariant 2), across all users so that a foreign id can be refused.
CREATE UNIQUE INDEX attempts_id ON attempts (id);
CREATE INDEX attempts_by_question ON attempts (user_id, question_id, answered_at, id);
CREATE INDEX attempts_by_time ON attempts (answered_at);
