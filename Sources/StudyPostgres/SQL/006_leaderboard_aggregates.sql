-- What a leaderboard needs, kept up to date as attempts arrive, so a board never scans the attempts table.
-- Days are calendar days in a time zone; a row exists for every time zone one of the learner's teams uses.

-- One row per learner, question and day: the unit of "distinct learning" (one point per question answered
-- correctly per day, flagged attempts excluded).
CREATE TABLE daily_question_activity (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    time_zone text NOT NULL,
    day date NOT NULL,
    question_id text NOT NULL,
    attempts integer NOT NULL,
    -- Unflagged correct attempts.
    correct_attempts integer NOT NULL,
    PRIMARY KEY (user_id, time_zone, day, question_id)
);

-- One row per learner and day: totals for windows, streaks and the "answered" and "accuracy" columns.
CREATE TABLE daily_activity (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    time_zone text NOT NULL,
    day date NOT NULL,
    -- Unflagged attempts.
    attempts integer NOT NULL,
    correct_attempts integer NOT NULL,
    -- Distinct questions answered correctly (unflagged) that day.
    points integer NOT NULL,
    PRIMARY KEY (user_id, time_zone, day)
);
CREATE INDEX daily_activity_by_day ON daily_activity (time_zone, day);
