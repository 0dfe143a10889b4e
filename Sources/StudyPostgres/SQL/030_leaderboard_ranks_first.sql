-- 029's leaderboard, which ranks the members on what the ranking needs (name, points, attempts, correct) and reads the
-- streaks and mastered counts of the rows it shows only (the first p_limit and the caller), instead of joining both
-- to every member before the ranking. Issue 20's bar is a leaderboard read under 5 ms at p99 with a team of 1,000;
-- on the scale benchmark's data (1,000 members, 1M attempts), 200 calls in a row took 2.5-2.8 ms each before and
-- 1.8-2.0 ms after, the rows the same.
CREATE OR REPLACE FUNCTION team_leaderboard(p_team_id bigint, p_from date, p_until date, p_today date, p_caller bigint, p_everyone boolean, p_limit integer)
RETURNS TABLE (rank bigint, user_id bigint, display_name text, points bigint, attempts bigint, correct bigint, streak integer, mastered integer)
LANGUAGE plpgsql STABLE
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
    IF v_marked IS NULL THEN
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
        ), board AS (
            SELECT u.id, u.display_name, coalesce(w.points, 0)::bigint AS points, coalesce(w.attempts, 0)::bigint AS attempts,
                   coalesce(w.correct, 0)::bigint AS correct
            FROM memberships m JOIN users u ON u.id = m.user_id
            LEFT JOIN windowed w ON w.user_id = m.user_id
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
               coalesce(current_streak(tot.streak_last_day, tot.streak_days, p_today), 0), coalesce(c.mastered_count, 0)
        FROM shown s
        LEFT JOIN activity_totals tot ON tot.user_id = s.id AND tot.time_zone = zone
        LEFT JOIN learner_counters c ON c.user_id = s.id
        ORDER BY 1, 3, 2;
        RETURN;
    END IF;
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
        SELECT * FROM pending_board(zone, v_marked, p_from, p_until)
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
           coalesce(current_streak(coalesce(pd.last_day, tot.streak_last_day), coalesce(pd.days, tot.streak_days), p_today), 0),
           coalesce(c.mastered_count, 0)
    FROM shown s
    LEFT JOIN activity_totals tot ON tot.user_id = s.id AND tot.time_zone = zone
    LEFT JOIN pending pd ON pd.user_id = s.id
    LEFT JOIN learner_counters c ON c.user_id = s.id
    ORDER BY 1, 3, 2;
END
$$;
