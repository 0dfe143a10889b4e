-- The leaderboard planned once per connection, its window written once, and team_board, the board as the API asks for
-- it (issue 20: a leaderboard read under 5 ms at p99 for a team of 1,000).
--
-- PostgreSQL plans a PL/pgSQL function's statement for its arguments on each of its first five calls and then keeps a
-- plan for any arguments only when that plan's estimate is no worse than theirs; the board's estimates never were, so
-- each read planned its statement again: on the scale benchmark's data (1,000 members, 1M attempts), 0.3-0.8 ms of a
-- 2 ms read. Its plan does not depend on the arguments' values (a team's members, its window's rows, a few lookups
-- per row shown), so the function now keeps the first plan made for any arguments (plan_cache_mode, set for the
-- function's calls only).
--
-- The board is one statement again, for marked members or none (030 wrote it twice, and the window's union of day,
-- week, month and all-time rows in each; pending_board runs only when some are marked), and it reads the streak and
-- mastered count of the rows it shows by their keys (board_row_streak, board_row_mastered). The union stays written out
-- here: a SQL function holding it, which PostgreSQL would plan inside this statement, is one that Citus refuses to plan
-- ("parameterized queries for SQL functions referencing distributed tables are not supported"). On Citus, whose planner
-- needs the arguments, the function plans with them as before (SQL/citus/distribute.sql).
--
-- The rows are those of 030: compared with EXCEPT ALL both ways on that data for 75 cases (five windows, five
-- callers, three limits), with 100 members hidden, and again with 30 members marked. 200 calls in a row there, week
-- and all time, as an instructor and as a member: 1.8-2.3 ms a call before, 1.4-1.7 ms after; with 10 members marked,
-- 3.1-3.6 ms before and 2.4-2.9 after. team_board (below) gives the rows and bounds the server's statement gave
-- before it, compared the same way for 360 cases (three windows, offsets 0-14, four moments, two callers).

-- The streak and the mastered count of a row the board shows, read by its key: a join of the rows shown to those
-- tables was planned as a scan of the team's rows of each (the plan kept does not know how few rows are shown), and
-- Citus plans no subquery of a distributed table that refers to the rows of a CTE, which a function call is not.
-- p_last_day and p_days: the learner's latest run of days once their mark is folded (pending_board), when it moves.
CREATE FUNCTION board_row_streak(p_user_id bigint, p_time_zone text, p_last_day date, p_days integer, p_today date) RETURNS integer
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_last date;
    v_days integer;
BEGIN
    SELECT tot.streak_last_day, tot.streak_days INTO v_last, v_days FROM activity_totals tot WHERE tot.user_id = p_user_id AND tot.time_zone = p_time_zone;
    RETURN coalesce(current_streak(coalesce(p_last_day, v_last), coalesce(p_days, v_days), p_today), 0);
END
$$;
CREATE FUNCTION board_row_mastered(p_user_id bigint) RETURNS integer
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    RETURN coalesce((SELECT c.mastered_count FROM learner_counters c WHERE c.user_id = p_user_id), 0);
END
$$;

CREATE OR REPLACE FUNCTION team_leaderboard(p_team_id bigint, p_from date, p_until date, p_today date, p_caller bigint, p_everyone boolean, p_limit integer)
RETURNS TABLE (rank bigint, user_id bigint, display_name text, points bigint, attempts bigint, correct bigint, streak integer, mastered integer)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    zone text;
    first_day integer;
    whole_week boolean;
    whole_month boolean := p_from IS NOT NULL AND extract(day FROM p_from) = 1 AND p_until = (p_from + interval '1 month')::date;
    v_marked bigint[];
BEGIN
    SELECT t.time_zone, t.week_start INTO zone, first_day FROM teams t WHERE t.id = p_team_id;
    whole_week := p_from IS NOT NULL AND p_until = p_from + 7 AND week_of(p_from, first_day) = p_from;
    SELECT array_agg(p.user_id) INTO v_marked
    FROM question_parts_pending p JOIN memberships m ON m.user_id = p.user_id
    WHERE m.team_id = p_team_id AND m.role = 'member' AND NOT boards_follow_pushes();
    RETURN QUERY
    WITH windowed AS (
        SELECT d.user_id, sum(d.points) AS points, sum(d.attempts) AS attempts, sum(d.correct_attempts) AS correct
        FROM daily_activity d
        WHERE p_from IS NOT NULL AND NOT whole_week AND NOT whole_month AND d.time_zone = zone AND d.day >= p_from AND d.day < p_until
        GROUP BY d.user_id
        UNION ALL
        SELECT wk.user_id, wk.points, wk.attempts, wk.correct_attempts
        FROM weekly_activity wk
        WHERE whole_week AND wk.time_zone = zone AND wk.week_start = first_day AND wk.week = p_from
        UNION ALL
        SELECT mo.user_id, mo.points, mo.attempts, mo.correct_attempts
        FROM monthly_activity mo
        WHERE whole_month AND mo.time_zone = zone AND mo.month = p_from
        UNION ALL
        SELECT tot.user_id, tot.points, tot.attempts, tot.correct_attempts
        FROM activity_totals tot
        WHERE p_from IS NULL AND tot.time_zone = zone
    ), pending AS MATERIALIZED (
        -- Per marked member: what the fold will add in the window, and their latest run of days then.
        SELECT * FROM pending_board(zone, v_marked, p_from, p_until) WHERE v_marked IS NOT NULL
    ), board AS (
        SELECT u.id, u.display_name, (coalesce(w.points, 0) + coalesce(pd.points, 0))::bigint AS points,
               (coalesce(w.attempts, 0) + coalesce(pd.attempts, 0))::bigint AS attempts,
               (coalesce(w.correct, 0) + coalesce(pd.correct, 0))::bigint AS correct
        FROM memberships m JOIN users u ON u.id = m.user_id
        LEFT JOIN windowed w ON w.user_id = m.user_id
        LEFT JOIN pending pd ON pd.user_id = m.user_id
        WHERE m.team_id = p_team_id AND m.role = 'member' AND (NOT u.leaderboard_opt_out OR u.id = p_caller OR p_everyone)
    ), top AS (
        -- Every member with more points than one of the first p_limit is among them, so their ranks are right here.
        SELECT t.*, rank() OVER (ORDER BY t.points DESC) AS rank
        FROM (SELECT * FROM board b ORDER BY b.points DESC, b.display_name, b.id LIMIT p_limit) t
    ), shown AS (
        SELECT r.rank, r.id, r.display_name, r.points, r.attempts, r.correct FROM top r
        UNION ALL
        SELECT 1 + (SELECT count(*) FROM board o WHERE o.points > c.points), c.id, c.display_name, c.points, c.attempts, c.correct
        FROM board c WHERE c.id = p_caller AND NOT EXISTS (SELECT 1 FROM top WHERE top.id = p_caller)
    )
    SELECT s.rank, s.id, s.display_name, s.points, s.attempts, s.correct,
           board_row_streak(s.id, zone, pd.last_day, pd.days, p_today), board_row_mastered(s.id)
    FROM shown s
    LEFT JOIN pending pd ON pd.user_id = s.id
    ORDER BY 1, 3, 2;
END
$$;

-- A board as the API asks for it: the team's window `week` or `month` (`offset` windows back) or `all`, on the team's
-- day at p_at (ms), with its bounds [from_day, until_day) on every row (NULL for `all`). In a function, so that its
-- statements keep their plans as team_leaderboard's do: the server's statement computing the bounds was planned again
-- on every call (0.3-0.45 ms of it).
CREATE FUNCTION team_board(p_team_id bigint, p_window text, p_offset integer, p_at bigint, p_caller bigint, p_everyone boolean, p_limit integer)
RETURNS TABLE (rank bigint, user_id bigint, display_name text, points bigint, attempts bigint, correct bigint, streak integer, mastered integer,
               from_day text, until_day text)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    today date;
    first_day integer;
    v_from date;
    v_until date;
BEGIN
    SELECT team_day(t.time_zone, p_at), t.week_start INTO today, first_day FROM teams t WHERE t.id = p_team_id;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF p_window = 'week' THEN
        v_from := week_of(today, first_day) - 7 * p_offset;
        v_until := v_from + 7;
    ELSIF p_window = 'month' THEN
        v_from := (date_trunc('month', today) - make_interval(months => p_offset))::date;
        v_until := (v_from + interval '1 month')::date;
    END IF;
    RETURN QUERY
    SELECT f.rank, f.user_id, f.display_name, f.points, f.attempts, f.correct, f.streak, f.mastered, v_from::text, v_until::text
    FROM team_leaderboard(p_team_id, v_from, v_until, today, p_caller, p_everyone, p_limit) f;
END
$$;
