-- The leaderboard (010, 012) without ranking every member: the board's first p_limit rows by points (a top-N sort),
-- ranked among themselves, which gives their ranks among all (every member with more points is among them), and the
-- caller's rank, when not among them, as one plus the members with more points. Ranking and numbering all 1,000
-- members of a class with two window functions took a third of a board read (issue 20). Same rows, same order.
CREATE OR REPLACE FUNCTION team_leaderboard(p_team_id bigint, p_from date, p_until date, p_today date, p_caller bigint, p_everyone boolean, p_limit integer)
RETURNS TABLE (rank bigint, user_id bigint, display_name text, points bigint, attempts bigint, correct bigint, streak integer, mastered integer)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    zone text;
    first_day integer;
    whole_week boolean;
    whole_month boolean := p_from IS NOT NULL AND extract(day FROM p_from) = 1 AND p_until = (p_from + interval '1 month')::date;
BEGIN
    SELECT t.time_zone, t.week_start INTO zone, first_day FROM teams t WHERE t.id = p_team_id;
    whole_week := p_from IS NOT NULL AND p_until = p_from + 7 AND week_of(p_from, first_day) = p_from;
    RETURN QUERY
    WITH members AS (
        SELECT u.id, u.display_name, u.mastered_count FROM memberships m JOIN users u ON u.id = m.user_id
        WHERE m.team_id = p_team_id AND m.role = 'member' AND (NOT u.leaderboard_opt_out OR u.id = p_caller OR p_everyone)
    ), windowed AS (
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
        SELECT m.id, m.display_name, coalesce(w.points, 0)::bigint AS points, coalesce(w.attempts, 0)::bigint AS attempts,
               coalesce(w.correct, 0)::bigint AS correct,
               coalesce(current_streak(tot.streak_last_day, tot.streak_days, p_today), 0) AS streak, m.mastered_count
        FROM members m
        LEFT JOIN windowed w ON w.user_id = m.id
        LEFT JOIN activity_totals tot ON tot.user_id = m.id AND tot.time_zone = zone
    ), top AS (
        -- Every member with more points than one of the first p_limit is among them, so their ranks are right here.
        SELECT t.*, rank() OVER (ORDER BY t.points DESC) AS rank, row_number() OVER (ORDER BY t.points DESC, t.display_name, t.id) AS position
        FROM (SELECT * FROM board b ORDER BY b.points DESC, b.display_name, b.id LIMIT p_limit) t
    )
    SELECT r.rank, r.id, r.display_name, r.points, r.attempts, r.correct, r.streak, r.mastered_count FROM top r
    UNION ALL
    SELECT 1 + (SELECT count(*) FROM board o WHERE o.points > c.points), c.id, c.display_name, c.points, c.attempts, c.correct, c.streak,
           c.mastered_count
    FROM board c WHERE c.id = p_caller AND NOT EXISTS (SELECT 1 FROM top WHERE top.id = p_caller)
    ORDER BY 1, 3, 2;
END
$$;
