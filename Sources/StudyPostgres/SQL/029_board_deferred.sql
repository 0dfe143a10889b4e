-- A team member's push no longer adds its attempts to the boards (issue 20: 50 members of one team syncing at once
-- reached 0.84-0.88 of the syncs per second of the same load with no team, the bar being 0.90; the board's two
-- statements were most of what a member's push cost beyond a learner's in no team). The push's mark of 027 now says
-- both: the learner's attempts numbered after seq_above are neither in the question-report sums nor on the boards
-- (day, week and month rows, totals and streaks) yet. The background fold adds them to the boards once for all the
-- learner's syncs since the last fold, with the same function the push ran (add_board_activity), before it moves the
-- sums. Whatever folds a learner's mark (joins, leaves, rebuilds, the deck totals' folds) therefore folds their board
-- too, before their teams change: a join then rebuilds the new team's zone from all of their attempts, as before.
--
-- Reads stay exact: the leaderboard, the learner report's streaks and the dashboard's weeks add what the marked
-- members' fold would add (pending_board_days, pending_board: read-only, so a standby answers the same; STABLE, so
-- every statement of a read sees the same moment, a fold committed or not).

-- Whether a push adds its attempts to the boards itself: false here, true on Citus (SQL/citus/distribute.sql), where
-- a read that adds what is pending could not be exact: each of its statements reads the workers at its own moment, so
-- a fold committing between two of them would be counted twice. There the boards follow each push, as before.
CREATE FUNCTION boards_follow_pushes() RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN false;

-- What folding the marks of p_members would add to their days in p_time_zone: per member and day, the attempts,
-- the correct ones and the points (a question earns its day's point with the day's first correct attempt, so a
-- question already correct that day on the board earns none). Nothing where the boards follow pushes (Citus), so these
-- reads are single statements.
CREATE FUNCTION pending_board_days(p_time_zone text, p_members bigint[])
RETURNS TABLE (user_id bigint, day date, attempts bigint, correct_attempts bigint, points bigint)
LANGUAGE plpgsql STABLE
ROWS 20
AS $$
#variable_conflict use_column
BEGIN
    IF boards_follow_pushes() THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH fresh AS (
        SELECT a.user_id, team_day(p_time_zone, a.answered_at) AS day, a.question_id,
               count(*) AS attempts, count(*) FILTER (WHERE a.correct) AS correct_attempts
        FROM question_parts_pending p
        -- Each learner's attempts after their mark: a range of their index (a join read all of their attempts).
        CROSS JOIN LATERAL (SELECT a.user_id, a.answered_at, a.question_id, a.correct FROM attempts a
                            WHERE a.user_id = p.user_id AND a.seq > p.seq_above AND a.flags = 0) a
        WHERE p.user_id = ANY (p_members)
        GROUP BY 1, 2, 3
    )
    SELECT f.user_id, f.day, sum(f.attempts)::bigint, sum(f.correct_attempts)::bigint,
           count(*) FILTER (WHERE f.correct_attempts > 0 AND NOT EXISTS (
               SELECT 1 FROM daily_question_activity d
               WHERE d.user_id = f.user_id AND d.time_zone = p_time_zone AND d.day = f.day AND d.question_id = f.question_id
                 AND d.correct_attempts > 0))
    FROM fresh f
    GROUP BY f.user_id, f.day;
END
$$;

-- Per member of p_members with pending days in p_time_zone: what they add in the window [p_from, p_until) (all time
-- when p_from is NULL), and, when a pending day is not on the board yet, the latest run of consecutive days as the
-- fold will leave it (activity_totals' streak_last_day and streak_days, from their days on the board and their
-- pending ones); NULL when every pending day is on the board already, which leaves the run as it is.
CREATE FUNCTION pending_board(p_time_zone text, p_members bigint[], p_from date, p_until date)
RETURNS TABLE (user_id bigint, points bigint, attempts bigint, correct bigint, last_day date, days integer)
LANGUAGE plpgsql STABLE
ROWS 20
AS $$
#variable_conflict use_column
BEGIN
    IF boards_follow_pushes() THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH fresh AS MATERIALIZED (
        SELECT * FROM pending_board_days(p_time_zone, p_members)
    ), moved AS (
        SELECT DISTINCT f.user_id FROM fresh f
        WHERE NOT EXISTS (SELECT 1 FROM daily_activity d WHERE d.user_id = f.user_id AND d.time_zone = p_time_zone AND d.day = f.day)
    ), runs AS (
        SELECT y.user_id, y.day, y.day - (row_number() OVER (PARTITION BY y.user_id ORDER BY y.day))::integer AS run
        FROM (SELECT f.user_id, f.day FROM fresh f JOIN moved USING (user_id)
              UNION
              SELECT u.user_id, d.day FROM moved u
              CROSS JOIN LATERAL (SELECT d.day FROM daily_activity d WHERE d.user_id = u.user_id AND d.time_zone = p_time_zone) d) y
    ), latest AS (
        SELECT DISTINCT ON (r.user_id) r.user_id, max(r.day) AS last_day, count(*)::integer AS days
        FROM runs r GROUP BY r.user_id, r.run ORDER BY r.user_id, max(r.day) DESC
    )
    SELECT w.user_id, w.points::bigint, w.attempts::bigint, w.correct::bigint, l.last_day, l.days
    FROM (SELECT f.user_id,
                 coalesce(sum(f.points) FILTER (WHERE p_from IS NULL OR (f.day >= p_from AND f.day < p_until)), 0) AS points,
                 coalesce(sum(f.attempts) FILTER (WHERE p_from IS NULL OR (f.day >= p_from AND f.day < p_until)), 0) AS attempts,
                 coalesce(sum(f.correct_attempts) FILTER (WHERE p_from IS NULL OR (f.day >= p_from AND f.day < p_until)), 0) AS correct
          FROM fresh f GROUP BY f.user_id) w
    LEFT JOIN latest l ON l.user_id = w.user_id;
END
$$;

-- 027's fold of a learner's mark, which adds their pending attempts to the boards first (in the zones of their teams
-- now: a join or a leave folds the mark before it changes them). The caller holds the learner's lock.
CREATE OR REPLACE FUNCTION fold_learner_pending_parts(p_user_id bigint)
RETURNS boolean
LANGUAGE plpgsql
AS $$
DECLARE
    v_above bigint;
    v_up_to bigint;
    v_zones text[];
    v_ids text[];
BEGIN
    SELECT p.seq_above INTO v_above FROM question_parts_pending p WHERE p.user_id = p_user_id;
    IF v_above IS NULL THEN
        RETURN false;
    END IF;
    SELECT array_agg(DISTINCT t.time_zone ORDER BY t.time_zone) INTO v_zones
    FROM memberships m JOIN teams t ON t.id = m.team_id WHERE m.user_id = p_user_id;
    IF v_zones IS NOT NULL AND NOT boards_follow_pushes() THEN
        SELECT c.attempt_seq INTO v_up_to FROM learner_counters c WHERE c.user_id = p_user_id;
        PERFORM add_board_activity(p_user_id, v_above, v_up_to, v_zones);
    END IF;
    v_ids := learner_pending_questions(p_user_id);
    PERFORM lock_learner_question_parts(p_user_id, v_ids);
    PERFORM apply_learner_question_parts(p_user_id, NULL::bigint, v_ids, learner_question_parts_summed(p_user_id, v_ids));
    DELETE FROM learner_question_stats_summed s WHERE s.user_id = p_user_id AND s.question_id = ANY (v_ids);
    INSERT INTO learner_question_stats_summed SELECT * FROM learner_question_stats s WHERE s.user_id = p_user_id AND s.question_id = ANY (v_ids);
    DELETE FROM question_parts_pending p WHERE p.user_id = p_user_id;
    RETURN true;
END
$$;

-- A push (027's, same signature): the learner marked; the boards and the sums follow in the fold.
CREATE OR REPLACE FUNCTION begin_team_push(p_user_id bigint, p_seq_above bigint, p_up_to bigint, p_question_ids text[],
                                           OUT zones text[], OUT parts_before learner_question_part[])
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    SELECT array_agg(DISTINCT t.time_zone ORDER BY t.time_zone) INTO zones
    FROM memberships m JOIN teams t ON t.id = m.team_id WHERE m.user_id = p_user_id;
    IF zones IS NULL THEN
        RETURN;
    END IF;
    IF boards_follow_pushes() THEN
        PERFORM add_board_activity(p_user_id, p_seq_above, p_up_to, zones);
    END IF;
    -- The learner's attempts after this page's first are not summed and, unless the boards follow pushes, not on the
    -- boards (the first such page's mark is kept). A page with no unflagged attempt adds nothing to either.
    IF p_question_ids IS NOT NULL THEN
        INSERT INTO question_parts_pending (user_id, seq_above) VALUES (p_user_id, p_seq_above) ON CONFLICT (user_id) DO NOTHING;
    END IF;
END
$$;

-- 021's leaderboard; while members are marked, with their pending days in the window added and their streaks as the
-- fold will leave them (when none is, 021's statement as it was: the additions cost a board of 1,000 a third more).
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
        WITH members AS (
            SELECT u.id, u.display_name, coalesce(c.mastered_count, 0) AS mastered_count FROM memberships m JOIN users u ON u.id = m.user_id
            LEFT JOIN learner_counters c ON c.user_id = m.user_id
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
        RETURN;
    END IF;
    RETURN QUERY
    WITH members AS (
        SELECT u.id, u.display_name, coalesce(c.mastered_count, 0) AS mastered_count FROM memberships m JOIN users u ON u.id = m.user_id
        LEFT JOIN learner_counters c ON c.user_id = m.user_id
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
    ), pending AS MATERIALIZED (
        -- Per marked member: what the fold will add in the window, and their latest run of days then.
        SELECT * FROM pending_board(zone, v_marked, p_from, p_until)
    ), board AS (
        SELECT m.id, m.display_name, (coalesce(w.points, 0) + coalesce(pd.points, 0))::bigint AS points,
               (coalesce(w.attempts, 0) + coalesce(pd.attempts, 0))::bigint AS attempts,
               (coalesce(w.correct, 0) + coalesce(pd.correct, 0))::bigint AS correct,
               coalesce(current_streak(coalesce(pd.last_day, tot.streak_last_day), coalesce(pd.days, tot.streak_days), p_today), 0) AS streak,
               m.mastered_count
        FROM members m
        LEFT JOIN windowed w ON w.user_id = m.id
        LEFT JOIN activity_totals tot ON tot.user_id = m.id AND tot.time_zone = zone
        LEFT JOIN pending pd ON pd.user_id = m.id
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

-- 022's learner report, with the marked members' streaks as the fold will leave them.
CREATE OR REPLACE FUNCTION team_learner_report(p_team_id bigint, at_ms bigint, p_user_id bigint DEFAULT NULL)
RETURNS TABLE (team_id bigint, user_id bigint, username text, display_name text, questions_attempted bigint, attempts bigint,
               accuracy double precision, mastered integer, due bigint, streak integer, last_active_at bigint, inactive boolean)
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
DECLARE
    v_members bigint[];
    v_time_zone text;
    v_stats jsonb;
    v_counters jsonb;
    v_due jsonb;
    v_totals jsonb;
    v_streaks jsonb;
BEGIN
    SELECT t.time_zone INTO v_time_zone FROM teams t WHERE t.id = p_team_id;
    SELECT coalesce(array_agg(m.user_id), '{}') INTO v_members
    FROM memberships m WHERE m.team_id = p_team_id AND m.role = 'member' AND (p_user_id IS NULL OR m.user_id = p_user_id);
    -- Each row built by name: Citus names the columns of a row read whole from a worker f1, f2, … .
    SELECT coalesce(jsonb_agg(jsonb_build_object('user_id', x.user_id, 'questions', x.questions, 'attempts', x.attempts, 'correct', x.correct,
                                                 'last_active_at', x.last_active_at)), '[]')
    INTO v_stats FROM (
        SELECT q.user_id, count(*) AS questions, sum(q.attempts) AS attempts, sum(q.correct_attempts) AS correct,
               max(q.last_answered_at) AS last_active_at
        FROM learner_question_stats q WHERE q.user_id = ANY (v_members) GROUP BY q.user_id) x;
    SELECT coalesce(jsonb_agg(jsonb_build_object('user_id', c.user_id, 'mastered_count', c.mastered_count)), '[]') INTO v_counters
    FROM learner_counters c WHERE c.user_id = ANY (v_members);
    SELECT coalesce(jsonb_agg(jsonb_build_object('user_id', x.user_id, 'due', x.due)), '[]') INTO v_due FROM (
        SELECT p.user_id, count(*) AS due FROM progress p WHERE p.user_id = ANY (v_members) AND p.due <= at_ms GROUP BY p.user_id) x;
    SELECT coalesce(jsonb_agg(jsonb_build_object('user_id', tot.user_id, 'streak_last_day', tot.streak_last_day, 'streak_days', tot.streak_days)),
                    '[]')
    INTO v_totals FROM activity_totals tot WHERE tot.user_id = ANY (v_members) AND tot.time_zone = v_time_zone;
    SELECT coalesce(jsonb_agg(jsonb_build_object('user_id', s.user_id, 'last_day', s.last_day, 'days', s.days)), '[]') INTO v_streaks
    FROM pending_board(v_time_zone, v_members, NULL, NULL) s;
    RETURN QUERY
    SELECT m.team_id, u.id, u.username, u.display_name,
           coalesce(s.questions, 0), coalesce(s.attempts, 0),
           CASE WHEN coalesce(s.attempts, 0) > 0 THEN s.correct::double precision / s.attempts END,
           coalesce(c.mastered_count, 0),
           coalesce(d.due, 0),
           coalesce(current_streak(coalesce(ps.last_day, tot.streak_last_day), coalesce(ps.days, tot.streak_days), team_day(v_time_zone, at_ms)), 0),
           s.last_active_at,
           -- Inactive: nothing answered in the last 7 days.
           coalesce(s.last_active_at < at_ms - 7 * 86400000, true)
    FROM memberships m
    JOIN users u ON u.id = m.user_id
    LEFT JOIN jsonb_to_recordset(v_stats) AS s(user_id bigint, questions bigint, attempts bigint, correct bigint, last_active_at bigint)
        ON s.user_id = m.user_id
    LEFT JOIN jsonb_to_recordset(v_counters) AS c(user_id bigint, mastered_count integer) ON c.user_id = m.user_id
    LEFT JOIN jsonb_to_recordset(v_due) AS d(user_id bigint, due bigint) ON d.user_id = m.user_id
    LEFT JOIN jsonb_to_recordset(v_totals) AS tot(user_id bigint, streak_last_day date, streak_days integer) ON tot.user_id = m.user_id
    LEFT JOIN jsonb_to_recordset(v_streaks) AS ps(user_id bigint, last_day date, days integer) ON ps.user_id = m.user_id
    WHERE m.team_id = p_team_id AND m.role = 'member' AND m.user_id = ANY (v_members);
END
$$;

-- The dashboard's weeks of a team from p_from_week on: per week, the members who answered, their attempts and the
-- correct ones, with the marked members' pending days added.
CREATE FUNCTION team_weeks(p_team_id bigint, p_from_week date)
RETURNS TABLE (week date, learners bigint, attempts bigint, correct bigint)
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
DECLARE
    v_zone text;
    v_start integer;
    v_members bigint[];
    v_pending jsonb;
BEGIN
    SELECT t.time_zone, t.week_start INTO v_zone, v_start FROM teams t WHERE t.id = p_team_id;
    SELECT coalesce(array_agg(m.user_id), '{}') INTO v_members FROM memberships m WHERE m.team_id = p_team_id AND m.role = 'member';
    SELECT coalesce(jsonb_agg(jsonb_build_object('user_id', p.user_id, 'day', p.day, 'attempts', p.attempts, 'correct', p.correct_attempts)), '[]')
    INTO v_pending FROM pending_board_days(v_zone, v_members) p;
    RETURN QUERY
    SELECT x.week, count(*), sum(x.attempts)::bigint, sum(x.correct)::bigint
    FROM (
        SELECT u.user_id, u.week, sum(u.attempts) AS attempts, sum(u.correct) AS correct
        FROM (
            SELECT w.user_id, w.week, w.attempts, w.correct_attempts AS correct FROM weekly_activity w
            WHERE w.user_id = ANY (v_members) AND w.time_zone = v_zone AND w.week_start = v_start AND w.week >= p_from_week
            UNION ALL
            SELECT p.user_id, week_of(p.day, v_start), p.attempts, p.correct
            FROM jsonb_to_recordset(v_pending) AS p(user_id bigint, day date, attempts bigint, correct bigint)
            WHERE week_of(p.day, v_start) >= p_from_week
        ) u
        GROUP BY u.user_id, u.week
    ) x
    WHERE x.attempts > 0
    GROUP BY x.week ORDER BY x.week;
END
$$;
