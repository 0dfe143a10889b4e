-- A cache of the FSRS fold of each learner's attempts per question (invariant 3); it can always be rebuilt.
CREATE TABLE progress (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    question_id text NOT NULL,
    -- FSRS state: 1 learning, 2 review, 3 relearning.
    state smallint NOT NULL CHECK (state BETWEEN 1 AND 3),
    step integer,
    stability double precision NOT NULL,
    difficulty double precision NOT NULL,
    due bigint NOT NULL,
    last_review bigint NOT NULL,
    attempts integer NOT NULL,
    correct_attempts integer NOT NULL,
    last_correct boolean NOT NULL,
    mastered boolean NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (user_id, question_id)
);
CREATE INDEX progress_due ON progress (user_id, due);
