-- Teams, the leaderboard and instructor reports (issue 5). Everything a board or report reads is kept up to date as
-- attempts arrive, so no request scans the attempts table. The report definitions are SQL functions, wrapped in views
-- for psql; the server calls the same functions, so an instructor with psql gets the server's numbers.

-- How many questions each learner has mastered (progress.mastered), kept with the progress cache.
ALTER TABLE users ADD COLUMN mastered_count integer NOT NULL DEFAULT 0;
UPDATE users u SET mastered_count = (SELECT count(*) FROM progress p WHERE p.user_id = u.id AND p.mastered);

-- Per time zone of the learner's teams: all-time totals and the latest run of consecutive active days, rebuilt from
-- daily_activity for the pushing learner in the push transaction.
CREATE TABLE activity_totals (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    time_zone text NOT NULL,
    attempts bigint NOT NULL,
    correct_attempts bigint NOT NULL,
    points bigint NOT NULL,
    -- The last day of the learner's latest run of active days, and its length.
    streak_last_day date NOT NULL,
    streak_days integer NOT NULL,
    PRIMARY KEY (user_id, time_zone)
);

-- Per learner and question, over unflagged attempts: what the question and learner reports read.
CREATE TABLE learner_question_stats (
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    question_id text NOT NULL,
    attempts integer NOT NULL,
    correct_attempts integer NOT NULL,
    -- option_counts[k + 1]: how many attempts chose option k (0…9).
    option_counts integer[] NOT NULL CHECK (cardinality(option_counts) = 10),
    duration_ms_sum bigint NOT NULL,
    -- The first attempt in fold order (answered_at, then id).
    first_answered_at bigint NOT NULL,
    first_attempt_id uuid NOT NULL,
    first_correct boolean NOT NULL,
    first_chosen smallint[] NOT NULL,
    first_duration_ms bigint NOT NULL,
    last_answered_at bigint NOT NULL,
    PRIMARY KEY (user_id, question_id)
);

INSERT INTO learner_question_stats
SELECT a.user_id, a.question_id, count(*), count(*) FILTER (WHERE a.correct),
       ARRAY(SELECT count(*) FILTER (WHERE k = ANY (b.chosen))::integer FROM generate_series(0, 9) k
             CROSS JOIN attempts b WHERE b.user_id = a.user_id AND b.question_id = a.question_id AND b.flags = 0 GROUP BY k ORDER BY k),
       sum(a.duration_ms), f.answered_at, f.id, f.correct, f.chosen, f.duration_ms, max(a.answered_at)
FROM attempts a
JOIN LATERAL (SELECT * FROM attempts f WHERE f.user_id = a.user_id AND f.question_id = a.question_id AND f.flags = 0
              ORDER BY f.answered_at, f.id LIMIT 1) f ON true
WHERE a.flags = 0
GROUP BY a.user_id, a.question_id, f.answered_at, f.id, f.correct, f.chosen, f.duration_ms;

-- The bundled deck is published to every team when it is created.
CREATE INDEX team_decks_by_deck ON team_decks (deck_id);

-- A board reads a window of days of one zone: from the index alone.
DROP INDEX daily_activity_by_day;
CREATE INDEX daily_activity_window ON daily_activity (time_zone, day) INCLUDE (user_id, points, attempts, correct_attempts);

-- Days, weeks and months are calendar days in the team's zone; `at_ms` is "now" in epoch milliseconds.
CREATE FUNCTION team_day(time_zone text, at_ms bigint) RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE
RETURN (to_timestamp(at_ms / 1000.0) AT TIME ZONE time_zone)::date;

-- A streak counts while its last day is today or yesterday in the team's zone.
CREATE FUNCTION current_streak(last_day date, days integer, today date) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN last_day >= today - 1 THEN days ELSE 0 END;

-- The leaderboard (README, "Teams, leaderboard and reports"): the team's members (role member; those who opted out
-- only for themselves and when `p_everyone`), ranked by points over the days [p_from, p_until) of the team's zone, or
-- over all time when p_from is NULL; the top p_limit rows and the caller's. PL/pgSQL, so each connection plans it once.
CREATE FUNCTION team_leaderboard(p_team_id bigint, p_from date, p_until date, p_today date, p_caller bigint, p_everyone boolean, p_limit integer)
RETURNS TABLE (rank bigint, user_id bigint, display_name text, points bigint, attempts bigint, correct bigint, streak integer, mastered integer)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    zone text := (SELECT t.time_zone FROM teams t WHERE t.id = p_team_id);
BEGIN
    RETURN QUERY
    WITH members AS (
        SELECT u.id, u.display_name, u.mastered_count FROM memberships m JOIN users u ON u.id = m.user_id
        WHERE m.team_id = p_team_id AND m.role = 'member' AND (NOT u.leaderboard_opt_out OR u.id = p_caller OR p_everyone)
    ), windowed AS (
        SELECT d.user_id, sum(d.points) AS points, sum(d.attempts) AS attempts, sum(d.correct_attempts) AS correct
        FROM daily_activity d
        WHERE p_from IS NOT NULL AND d.time_zone = zone AND d.day >= p_from AND d.day < p_until
        GROUP BY d.user_id
        UNION ALL
        SELECT tot.user_id, tot.points, tot.attempts, tot.correct_attempts
        FROM activity_totals tot
        WHERE p_from IS NULL AND tot.time_zone = zone
    ), ranked AS (
        SELECT m.id, m.display_name, coalesce(w.points, 0)::bigint AS points, coalesce(w.attempts, 0)::bigint AS attempts,
               coalesce(w.correct, 0)::bigint AS correct,
               coalesce(current_streak(tot.streak_last_day, tot.streak_days, p_today), 0) AS streak, m.mastered_count,
               rank() OVER (ORDER BY coalesce(w.points, 0) DESC) AS rank,
               row_number() OVER (ORDER BY coalesce(w.points, 0) DESC, m.display_name, m.id) AS position
        FROM members m
        LEFT JOIN windowed w ON w.user_id = m.id
        LEFT JOIN activity_totals tot ON tot.user_id = m.id AND tot.time_zone = zone
    )
    SELECT r.rank, r.id, r.display_name, r.points, r.attempts, r.correct, r.streak, r.mastered_count FROM ranked r
    WHERE r.position <= p_limit OR r.id = p_caller
    ORDER BY r.position;
END
$$;

-- The learner report: one row per member of the team (role member).
CREATE FUNCTION team_learner_report(p_team_id bigint, at_ms bigint, p_user_id bigint DEFAULT NULL)
RETURNS TABLE (team_id bigint, user_id bigint, username text, display_name text, questions_attempted bigint, attempts bigint,
               accuracy double precision, mastered integer, due bigint, streak integer, last_active_at bigint, inactive boolean)
LANGUAGE sql STABLE
AS $$
    SELECT m.team_id, u.id, u.username, u.display_name,
           coalesce(s.questions, 0), coalesce(s.attempts, 0),
           CASE WHEN coalesce(s.attempts, 0) > 0 THEN s.correct::double precision / s.attempts END,
           u.mastered_count,
           (SELECT count(*) FROM progress p WHERE p.user_id = u.id AND p.due <= at_ms),
           coalesce(current_streak(tot.streak_last_day, tot.streak_days, team_day(t.time_zone, at_ms)), 0),
           s.last_active_at,
           -- Inactive: nothing answered in the last 7 days.
           coalesce(s.last_active_at < at_ms - 7 * 86400000, true)
    FROM memberships m
    JOIN teams t ON t.id = m.team_id
    JOIN users u ON u.id = m.user_id
    LEFT JOIN LATERAL (
        SELECT count(*) AS questions, sum(q.attempts) AS attempts, sum(q.correct_attempts) AS correct, max(q.last_answered_at) AS last_active_at
        FROM learner_question_stats q WHERE q.user_id = u.id
    ) s ON true
    LEFT JOIN activity_totals tot ON tot.user_id = u.id AND tot.time_zone = t.time_zone
    WHERE m.team_id = p_team_id AND m.role = 'member' AND (p_user_id IS NULL OR u.id = p_user_id)
$$;

CREATE VIEW team_learner_report AS
SELECT r.* FROM teams t, team_learner_report(t.id, (extract(epoch FROM now()) * 1000)::bigint) r;

-- The question report over the team's members (role member) for one deck, from first attempts or from all attempts.
-- facility: the share of the counted attempts that were correct; discrimination: the Pearson correlation, over the
-- learners who answered the question, of their score on it (first attempt right: 1 or 0; all: their share correct) with
-- the sum of their scores on the deck's other questions (the rest-score), NULL below two learners or without spread;
-- option_chosen[k + 1]: how often option k was chosen; median_duration_ms: the median, over the learners who answered,
-- of their time on it (their first attempt's, or their mean over all their attempts).
CREATE FUNCTION team_question_report(p_team_id bigint, p_deck_id text, first_only boolean)
RETURNS TABLE (team_id bigint, deck_id text, question_position integer, question_id text, learners bigint, attempts bigint,
               facility double precision, discrimination double precision, option_chosen bigint[], correct_options smallint[],
               median_duration_ms double precision)
LANGUAGE sql STABLE
AS $$
    WITH questions AS (
        SELECT dq.position, dq.question_id, v.correct, cardinality(v.options) AS option_count
        FROM deck_questions dq JOIN question_versions v ON v.question_id = dq.question_id AND v.version = dq.version
        WHERE dq.deck_id = p_deck_id
    ), scores AS MATERIALIZED (
        SELECT s.user_id, s.question_id,
               CASE WHEN first_only THEN s.first_correct::integer ELSE s.correct_attempts END AS correct,
               CASE WHEN first_only THEN 1 ELSE s.attempts END AS attempts,
               CASE WHEN first_only THEN s.first_chosen END AS first_chosen,
               CASE WHEN NOT first_only THEN s.option_counts END AS option_counts,
               CASE WHEN first_only THEN s.first_duration_ms ELSE s.duration_ms_sum::double precision / s.attempts END AS duration_ms
        FROM memberships m
        JOIN learner_question_stats s ON s.user_id = m.user_id
        JOIN questions q ON q.question_id = s.question_id
        WHERE m.team_id = p_team_id AND m.role = 'member'
    ), totals AS (
        SELECT user_id, sum(correct::double precision / attempts) AS total FROM scores GROUP BY user_id
    ), per_question AS (
        SELECT sc.question_id, count(*) AS learners, sum(sc.attempts) AS attempts,
               sum(sc.correct)::double precision / sum(sc.attempts) AS facility,
               corr(sc.correct::double precision / sc.attempts, t.total - sc.correct::double precision / sc.attempts) AS discrimination,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY sc.duration_ms) AS median_duration_ms,
               ARRAY[
                   sum(CASE WHEN first_only THEN (0 = ANY (sc.first_chosen))::integer ELSE sc.option_counts[1] END),
                   sum(CASE WHEN first_only THEN (1 = ANY (sc.first_chosen))::integer ELSE sc.option_counts[2] END),
                   sum(CASE WHEN first_only THEN (2 = ANY (sc.first_chosen))::integer ELSE sc.option_counts[3] END),
                   sum(CASE WHEN first_only THEN (3 = ANY (sc.first_chosen))::integer ELSE sc.option_counts[4] END),
                   sum(CASE WHEN first_only THEN (4 = ANY (sc.first_chosen))::integer ELSE sc.option_counts[5] END),
                   sum(CASE WHEN first_only THEN (5 = ANY (sc.first_chosen))::integer ELSE sc.option_counts[6] END),
                   sum(CASE WHEN first_only THEN (6 = ANY (sc.first_chosen))::integer ELSE sc.option_counts[7] END),
                   sum(CASE WHEN first_only THEN (7 = ANY (sc.first_chosen))::integer ELSE sc.option_counts[8] END),
                   sum(CASE WHEN first_only THEN (8 = ANY (sc.first_chosen))::integer ELSE sc.option_counts[9] END),
                   sum(CASE WHEN first_only THEN (9 = ANY (sc.first_chosen))::integer ELSE sc.option_counts[10] END)
               ] AS chosen
        FROM scores sc JOIN totals t USING (user_id)
        GROUP BY sc.question_id
    )
    SELECT p_team_id, p_deck_id, q.position, q.question_id, coalesce(p.learners, 0), coalesce(p.attempts, 0), p.facility, p.discrimination,
           (coalesce(p.chosen, array_fill(0::bigint, ARRAY[10])))[1:q.option_count], q.correct,
           p.median_duration_ms
    FROM questions q
    LEFT JOIN per_question p USING (question_id)
    ORDER BY q.position
$$;

CREATE VIEW team_question_report_first AS
SELECT r.* FROM team_decks td, team_question_report(td.team_id, td.deck_id, true) r;

CREATE VIEW team_question_report_all AS
SELECT r.* FROM team_decks td, team_question_report(td.team_id, td.deck_id, false) r;
