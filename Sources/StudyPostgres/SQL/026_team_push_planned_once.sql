-- 024's parts_as_summed was an SQL function whose body holds a subquery: PostgreSQL cannot inline such a function, and
-- before version 18 it plans an SQL function's body again on every call (each push of a team member called it once).
-- As PL/pgSQL its statement is planned once per session, as the push's other functions are. Same rows.
CREATE OR REPLACE FUNCTION parts_as_summed(p_now learner_question_part[], p_totals jsonb)
RETURNS learner_question_part[]
LANGUAGE plpgsql IMMUTABLE
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN ARRAY(
        SELECT ROW(n.team_id, n.deck_id, n.first_only, n.question_id, n.attempts, n.correct, n.x, s.t_summed, n.chosen, n.bucket)::learner_question_part
        FROM unnest(p_now) n
        JOIN jsonb_to_recordset(p_totals) AS s(team_id bigint, deck_id text, first_only boolean, t numeric, t_summed numeric)
            USING (team_id, deck_id, first_only));
END
$$;

-- A team member's push moved their board in ten statements (022: each read staged in a variable, for Citus), and each
-- statement costs a PL/pgSQL function its own executor start and end: most of the board's time in a class's small
-- pushes. On one PostgreSQL the same rows are now written by one statement: the page's attempts counted by day and
-- question, those counts added (a question earns its day's point when the day's correct attempts, after the page, are
-- the page's: none before it), the days, weeks and months moved, and the totals and latest run of days computed from
-- the learner's stored days (as the statement sees them: before its own writes) with the page's. A server on Citus
-- keeps 022's steps, renamed add_board_activity_in_steps (SQL/citus/distribute.sql calls them).
ALTER FUNCTION add_board_activity(bigint, bigint, bigint, text[]) RENAME TO add_board_activity_in_steps;

CREATE FUNCTION add_board_activity(p_user_id bigint, p_seq_above bigint, p_up_to bigint, p_zones text[])
RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    WITH fresh AS (
        SELECT z.time_zone, team_day(z.time_zone, a.answered_at) AS day, a.question_id,
               count(*) AS attempts, count(*) FILTER (WHERE a.correct) AS correct_attempts
        FROM attempts a CROSS JOIN unnest(p_zones) AS z(time_zone)
        WHERE a.user_id = p_user_id AND a.seq > p_seq_above AND a.seq <= p_up_to AND a.flags = 0
        GROUP BY 1, 2, 3
    ), questions AS (
        INSERT INTO daily_question_activity AS d (user_id, time_zone, day, question_id, attempts, correct_attempts)
        SELECT p_user_id, f.time_zone, f.day, f.question_id, f.attempts, f.correct_attempts FROM fresh f
        ON CONFLICT (user_id, time_zone, day, question_id) DO UPDATE
            SET attempts = d.attempts + excluded.attempts, correct_attempts = d.correct_attempts + excluded.correct_attempts
        RETURNING d.time_zone, d.day, d.question_id, d.correct_attempts
    ), days AS (
        SELECT f.time_zone, f.day, sum(f.attempts) AS attempts, sum(f.correct_attempts) AS correct_attempts,
               count(*) FILTER (WHERE f.correct_attempts > 0 AND q.correct_attempts = f.correct_attempts) AS points
        FROM fresh f JOIN questions q USING (time_zone, day, question_id)
        GROUP BY f.time_zone, f.day
    ), weeks AS (
        INSERT INTO weekly_activity AS s (user_id, time_zone, week_start, week, attempts, correct_attempts, points)
        SELECT p_user_id, d.time_zone, w.week_start, week_of(d.day, w.week_start), sum(d.attempts), sum(d.correct_attempts), sum(d.points)
        FROM days d
        JOIN (SELECT DISTINCT t.time_zone, t.week_start FROM memberships m JOIN teams t ON t.id = m.team_id
              WHERE m.user_id = p_user_id AND t.time_zone = ANY (p_zones)) w USING (time_zone)
        GROUP BY 2, 3, 4
        ON CONFLICT (user_id, time_zone, week_start, week) DO UPDATE
            SET attempts = s.attempts + excluded.attempts, correct_attempts = s.correct_attempts + excluded.correct_attempts,
                points = s.points + excluded.points
    ), months AS (
        INSERT INTO monthly_activity AS s (user_id, time_zone, month, attempts, correct_attempts, points)
        SELECT p_user_id, d.time_zone, date_trunc('month', d.day)::date, sum(d.attempts), sum(d.correct_attempts), sum(d.points)
        FROM days d
        GROUP BY 2, 3
        ON CONFLICT (user_id, time_zone, month) DO UPDATE
            SET attempts = s.attempts + excluded.attempts, correct_attempts = s.correct_attempts + excluded.correct_attempts,
                points = s.points + excluded.points
    ), stored_days AS (
        INSERT INTO daily_activity AS s (user_id, time_zone, day, attempts, correct_attempts, points)
        SELECT p_user_id, d.time_zone, d.day, d.attempts, d.correct_attempts, d.points FROM days d
        ON CONFLICT (user_id, time_zone, day) DO UPDATE
            SET attempts = s.attempts + excluded.attempts, correct_attempts = s.correct_attempts + excluded.correct_attempts,
                points = s.points + excluded.points
    ), all_days AS (
        SELECT u.time_zone, u.day, sum(u.attempts) AS attempts, sum(u.correct_attempts) AS correct_attempts, sum(u.points) AS points
        FROM (SELECT d.time_zone, d.day, d.attempts, d.correct_attempts, d.points
              FROM daily_activity d WHERE d.user_id = p_user_id AND d.time_zone = ANY (p_zones)
              UNION ALL
              SELECT d.time_zone, d.day, d.attempts, d.correct_attempts, d.points FROM days d) u
        WHERE u.time_zone IN (SELECT d.time_zone FROM days d)
        GROUP BY u.time_zone, u.day
    ), runs AS (
        SELECT a.time_zone, a.day, a.attempts, a.correct_attempts, a.points,
               a.day - (row_number() OVER (PARTITION BY a.time_zone ORDER BY a.day))::integer AS run
        FROM all_days a
    ), latest AS (
        SELECT DISTINCT ON (time_zone) time_zone, max(day) AS last_day, count(*) AS length
        FROM runs GROUP BY time_zone, run ORDER BY time_zone, max(day) DESC
    )
    INSERT INTO activity_totals AS t (user_id, time_zone, attempts, correct_attempts, points, streak_last_day, streak_days)
    SELECT p_user_id, r.time_zone, sum(r.attempts), sum(r.correct_attempts), sum(r.points), l.last_day, l.length
    FROM runs r JOIN latest l USING (time_zone)
    GROUP BY r.time_zone, l.last_day, l.length
    ON CONFLICT (user_id, time_zone) DO UPDATE
        SET attempts = excluded.attempts, correct_attempts = excluded.correct_attempts, points = excluded.points,
            streak_last_day = excluded.streak_last_day, streak_days = excluded.streak_days;
END
$$;
