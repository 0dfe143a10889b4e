-- A push's board aggregates in 019's two statements again on one PostgreSQL (issue 20). 022 split them into ten steps
-- staged in jsonb variables so that Citus sends each to the learner's shard; one PostgreSQL paid for the split on every
-- team member's push: each step's executor is started and ended in turn, and pg_stat_statements timed the function at
-- 0.63-0.74 ms per push of 20 answers against 0.47-0.51 ms for 019's statements (two learners of one team syncing, no
-- contention, two runs each). The steps stay as add_board_activity_in_steps, which SQL/citus/distribute.sql makes
-- add_board_activity call on Citus; the rows written are the same.
ALTER FUNCTION add_board_activity(bigint, bigint, bigint, text[]) RENAME TO add_board_activity_in_steps;

CREATE FUNCTION add_board_activity(p_user_id bigint, p_seq_above bigint, p_up_to bigint, p_zones text[])
RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    WITH zones AS (
        SELECT unnest(p_zones) AS time_zone
    ), fresh AS (
        SELECT z.time_zone, team_day(z.time_zone, a.answered_at) AS day, a.question_id,
               count(*) AS attempts, count(*) FILTER (WHERE a.correct) AS correct_attempts
        FROM attempts a CROSS JOIN zones z
        WHERE a.user_id = p_user_id AND a.seq > p_seq_above AND a.seq <= p_up_to AND a.flags = 0
        GROUP BY 1, 2, 3
    ), merged AS (
        INSERT INTO daily_question_activity AS d (user_id, time_zone, day, question_id, attempts, correct_attempts)
        SELECT p_user_id, time_zone, day, question_id, attempts, correct_attempts FROM fresh
        ON CONFLICT (user_id, time_zone, day, question_id) DO UPDATE
            SET attempts = d.attempts + excluded.attempts, correct_attempts = d.correct_attempts + excluded.correct_attempts
        RETURNING time_zone, day, question_id, correct_attempts
    ), days AS (
        -- A question earns its day's point with the first correct attempt: the merged count equals this batch's.
        SELECT f.time_zone, f.day, sum(f.attempts) AS attempts, sum(f.correct_attempts) AS correct_attempts,
               count(*) FILTER (WHERE f.correct_attempts > 0 AND m.correct_attempts = f.correct_attempts) AS points
        FROM fresh f JOIN merged m USING (time_zone, day, question_id)
        GROUP BY f.time_zone, f.day
    ), weeks AS (
        SELECT DISTINCT t.time_zone, t.week_start FROM memberships m JOIN teams t ON t.id = m.team_id
        WHERE m.user_id = p_user_id AND t.time_zone IN (SELECT time_zone FROM zones)
    ), weekly AS (
        INSERT INTO weekly_activity AS s (user_id, time_zone, week_start, week, attempts, correct_attempts, points)
        SELECT p_user_id, d.time_zone, w.week_start, week_of(d.day, w.week_start), sum(d.attempts), sum(d.correct_attempts), sum(d.points)
        FROM days d JOIN weeks w USING (time_zone)
        GROUP BY 2, 3, 4
        ON CONFLICT (user_id, time_zone, week_start, week) DO UPDATE
            SET attempts = s.attempts + excluded.attempts, correct_attempts = s.correct_attempts + excluded.correct_attempts,
                points = s.points + excluded.points
    ), daily AS (
        INSERT INTO daily_activity AS s (user_id, time_zone, day, attempts, correct_attempts, points)
        SELECT p_user_id, time_zone, day, attempts, correct_attempts, points FROM days
        ON CONFLICT (user_id, time_zone, day) DO UPDATE
            SET attempts = s.attempts + excluded.attempts, correct_attempts = s.correct_attempts + excluded.correct_attempts,
                points = s.points + excluded.points
    )
    INSERT INTO monthly_activity AS s (user_id, time_zone, month, attempts, correct_attempts, points)
    SELECT p_user_id, time_zone, date_trunc('month', day)::date, sum(attempts), sum(correct_attempts), sum(points) FROM days
    GROUP BY 2, 3
    ON CONFLICT (user_id, time_zone, month) DO UPDATE
        SET attempts = s.attempts + excluded.attempts, correct_attempts = s.correct_attempts + excluded.correct_attempts,
            points = s.points + excluded.points;
    -- Totals and the latest run of consecutive days, from the learner's own days (a few hundred rows at most a year).
    WITH zones AS (
        SELECT unnest(p_zones) AS time_zone
    ), days AS (
        SELECT d.time_zone, d.day, d.attempts, d.correct_attempts, d.points,
               d.day - (row_number() OVER (PARTITION BY d.time_zone ORDER BY d.day))::integer AS run
        FROM daily_activity d WHERE d.user_id = p_user_id AND d.time_zone IN (SELECT time_zone FROM zones)
    ), latest AS (
        SELECT DISTINCT ON (time_zone) time_zone, max(day) AS last_day, count(*) AS length
        FROM days GROUP BY time_zone, run ORDER BY time_zone, max(day) DESC
    )
    INSERT INTO activity_totals AS t (user_id, time_zone, attempts, correct_attempts, points, streak_last_day, streak_days)
    SELECT p_user_id, d.time_zone, sum(d.attempts), sum(d.correct_attempts), sum(d.points), l.last_day, l.length
    FROM days d JOIN latest l USING (time_zone)
    GROUP BY d.time_zone, l.last_day, l.length
    ON CONFLICT (user_id, time_zone) DO UPDATE
        SET attempts = excluded.attempts, correct_attempts = excluded.correct_attempts, points = excluded.points,
            streak_last_day = excluded.streak_last_day, streak_days = excluded.streak_days;
END
$$;
