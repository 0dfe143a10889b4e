-- What a push writes is the learner's own (issue 21): on Citus, every table a push writes is distributed by user_id,
-- so the push is a transaction on one shard. Two things it wrote were not: the learner's sequence counter and mastered
-- count, columns of `users` (a table every node needs, for sign-in and the boards' names), and the moves of the teams'
-- question-report sums (018), which did not say whose they were. On one PostgreSQL this changes nothing a client sees.
--
-- `learner_counters`: a row per learner. Its row lock is the learner's lock (invariant 4: a push numbers its attempts
-- under it, so they commit in the order numbered and stay gap-free); a membership change and a rebuild take it too.
CREATE TABLE learner_counters (
    user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    attempt_seq bigint NOT NULL DEFAULT 0,
    mastered_count integer NOT NULL DEFAULT 0
);
INSERT INTO learner_counters (user_id, attempt_seq, mastered_count) SELECT id, attempt_seq, mastered_count FROM users;
ALTER TABLE users DROP COLUMN attempt_seq, DROP COLUMN mastered_count;

-- The moves say whose change they are: on Citus they are stored with the learner's other rows. Those not folded yet
-- are folded first (every one; no push appends meanwhile), so that every move left has its learner.
LOCK TABLE team_question_sum_moves IN EXCLUSIVE MODE;
SELECT fold_team_question_sum_moves(2147483647);
ALTER TABLE team_question_sum_moves ADD COLUMN user_id bigint NOT NULL;

-- 018's second step, appending its moves with the learner's id.
CREATE OR REPLACE FUNCTION apply_learner_question_parts_whole(p_user_id bigint, p_team_id bigint, p_question_ids text[], p_before learner_question_part[])
RETURNS void
LANGUAGE sql
AS $$
    WITH n AS (
        SELECT * FROM learner_question_parts(p_user_id, p_team_id, p_question_ids)
    ), held AS (
        SELECT * FROM learner_decks_concerned(p_user_id, p_team_id, p_question_ids)
    ), totals AS (
        SELECT c.team_id, c.deck_id, c.first_only, c.t,
               CASE WHEN p_question_ids IS NULL OR h.t_summed IS NULL THEN c.t ELSE h.t_summed END AS t_summed
        FROM (SELECT DISTINCT n.team_id, n.deck_id, n.first_only, n.t FROM n) c
        LEFT JOIN held h USING (team_id, deck_id, first_only)
    ), kept AS (
        INSERT INTO learner_deck_totals AS l (user_id, team_id, deck_id, first_only, t, t_summed)
        SELECT p_user_id, team_id, deck_id, first_only, t, t_summed FROM totals
        ON CONFLICT (user_id, team_id, deck_id, first_only) DO UPDATE SET t = excluded.t, t_summed = excluded.t_summed
    ), gone AS (
        DELETE FROM learner_deck_totals l USING held h
        WHERE l.user_id = p_user_id AND l.team_id = h.team_id AND l.deck_id = h.deck_id AND l.first_only = h.first_only
          AND NOT EXISTS (SELECT 1 FROM totals c WHERE c.team_id = h.team_id AND c.deck_id = h.deck_id AND c.first_only = h.first_only)
    ), d AS (
        SELECT team_id, deck_id, first_only, question_id,
               (n.question_id IS NOT NULL)::integer - (b.question_id IS NOT NULL)::integer AS learners,
               coalesce(n.attempts, 0) - coalesce(b.attempts, 0) AS attempts,
               coalesce(n.correct, 0) - coalesce(b.correct, 0) AS correct,
               coalesce(n.x, 0) - coalesce(b.x, 0) AS x,
               coalesce(n.x * n.x, 0) - coalesce(b.x * b.x, 0) AS xx,
               coalesce(n.t, 0) - coalesce(b.t, 0) AS t,
               coalesce(n.t * n.t, 0) - coalesce(b.t * b.t, 0) AS tt,
               coalesce(n.x * n.t, 0) - coalesce(b.x * b.t, 0) AS xt,
               b.chosen AS chosen_before, n.chosen AS chosen_now, b.bucket AS bucket_before, n.bucket AS bucket_now
        FROM (SELECT n.team_id, n.deck_id, n.first_only, n.question_id, n.attempts, n.correct, n.x, s.t_summed AS t, n.chosen, n.bucket
              FROM n JOIN totals s USING (team_id, deck_id, first_only)) n
        FULL JOIN unnest(p_before) b USING (team_id, deck_id, first_only, question_id)
    ), changed AS (
        SELECT * FROM d
        WHERE d.learners <> 0 OR d.attempts <> 0 OR d.correct <> 0 OR d.x <> 0 OR d.xx <> 0 OR d.t <> 0 OR d.tt <> 0 OR d.xt <> 0
              OR d.chosen_before IS DISTINCT FROM d.chosen_now OR d.bucket_before IS DISTINCT FROM d.bucket_now
    )
    -- Appended, never updated: members of one team pushing at once do not wait for one another's sums rows.
    INSERT INTO team_question_sum_moves (user_id, team_id, deck_id, first_only, question_id, learners, attempts, correct, sum_x, sum_xx,
                                         sum_t, sum_tt, sum_xt, option_moved, bucket_taken, bucket_added)
    SELECT p_user_id, d.team_id, d.deck_id, d.first_only, d.question_id, d.learners, d.attempts, d.correct, d.x, d.xx, d.t, d.tt, d.xt,
           CASE WHEN d.chosen_before IS DISTINCT FROM d.chosen_now
                THEN ARRAY(SELECT coalesce(n, 0) - coalesce(b, 0) FROM unnest(d.chosen_now, d.chosen_before) AS u(n, b)) END,
           CASE WHEN d.bucket_before IS DISTINCT FROM d.bucket_now THEN d.bucket_before END,
           CASE WHEN d.bucket_before IS DISTINCT FROM d.bucket_now THEN d.bucket_now END
    FROM changed d;
$$;

CREATE OR REPLACE FUNCTION apply_learner_question_parts(p_user_id bigint, p_team_id bigint, p_question_ids text[], p_before learner_question_part[])
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF p_question_ids IS NULL OR p_team_id IS NOT NULL THEN
        PERFORM apply_learner_question_parts_whole(p_user_id, p_team_id, p_question_ids, p_before);
        RETURN;
    END IF;
    WITH n AS (
        SELECT * FROM learner_question_parts_of(p_user_id, p_question_ids)
    ), moved AS (
        SELECT k.team_id, k.deck_id, k.first_only, sum(k.x) AS dx
        FROM (SELECT n.team_id, n.deck_id, n.first_only, n.x FROM n
              UNION ALL SELECT b.team_id, b.deck_id, b.first_only, -b.x FROM unnest(p_before) b) k
        GROUP BY 1, 2, 3
    ), totals AS (
        SELECT m.team_id, m.deck_id, m.first_only, coalesce(l.t, 0) + m.dx AS t, coalesce(l.t_summed, m.dx) AS t_summed
        FROM moved m
        LEFT JOIN learner_deck_totals l
            ON l.user_id = p_user_id AND l.team_id = m.team_id AND l.deck_id = m.deck_id AND l.first_only = m.first_only
    ), kept AS (
        INSERT INTO learner_deck_totals AS l (user_id, team_id, deck_id, first_only, t, t_summed)
        SELECT p_user_id, team_id, deck_id, first_only, t, t_summed FROM totals
        ON CONFLICT (user_id, team_id, deck_id, first_only) DO UPDATE SET t = excluded.t
    ), d AS (
        SELECT team_id, deck_id, first_only, question_id,
               (n.question_id IS NOT NULL)::integer - (b.question_id IS NOT NULL)::integer AS learners,
               coalesce(n.attempts, 0) - coalesce(b.attempts, 0) AS attempts,
               coalesce(n.correct, 0) - coalesce(b.correct, 0) AS correct,
               coalesce(n.x, 0) - coalesce(b.x, 0) AS x,
               coalesce(n.x * n.x, 0) - coalesce(b.x * b.x, 0) AS xx,
               coalesce(n.t, 0) - coalesce(b.t, 0) AS t,
               coalesce(n.t * n.t, 0) - coalesce(b.t * b.t, 0) AS tt,
               coalesce(n.x * n.t, 0) - coalesce(b.x * b.t, 0) AS xt,
               b.chosen AS chosen_before, n.chosen AS chosen_now, b.bucket AS bucket_before, n.bucket AS bucket_now
        FROM (SELECT n.team_id, n.deck_id, n.first_only, n.question_id, n.attempts, n.correct, n.x, s.t_summed AS t, n.chosen, n.bucket
              FROM n JOIN totals s USING (team_id, deck_id, first_only)) n
        FULL JOIN unnest(p_before) b USING (team_id, deck_id, first_only, question_id)
    ), changed AS (
        SELECT * FROM d
        WHERE d.learners <> 0 OR d.attempts <> 0 OR d.correct <> 0 OR d.x <> 0 OR d.xx <> 0 OR d.t <> 0 OR d.tt <> 0 OR d.xt <> 0
              OR d.chosen_before IS DISTINCT FROM d.chosen_now OR d.bucket_before IS DISTINCT FROM d.bucket_now
    )
    -- Appended, never updated: members of one team pushing at once do not wait for one another's sums rows.
    INSERT INTO team_question_sum_moves (user_id, team_id, deck_id, first_only, question_id, learners, attempts, correct, sum_x, sum_xx,
                                         sum_t, sum_tt, sum_xt, option_moved, bucket_taken, bucket_added)
    SELECT p_user_id, d.team_id, d.deck_id, d.first_only, d.question_id, d.learners, d.attempts, d.correct, d.x, d.xx, d.t, d.tt, d.xt,
           CASE WHEN d.chosen_before IS DISTINCT FROM d.chosen_now
                THEN ARRAY(SELECT coalesce(n, 0) - coalesce(b, 0) FROM unnest(d.chosen_now, d.chosen_before) AS u(n, b)) END,
           CASE WHEN d.bucket_before IS DISTINCT FROM d.bucket_now THEN d.bucket_before END,
           CASE WHEN d.bucket_before IS DISTINCT FROM d.bucket_now THEN d.bucket_now END
    FROM changed d;
END
$$;

ALTER FUNCTION apply_learner_question_parts(bigint, bigint, text[], learner_question_part[]) SET plan_cache_mode = force_generic_plan;

-- 018's fold of moved deck totals, taking the learners' locks where they now are.
CREATE OR REPLACE FUNCTION fold_learner_deck_totals(p_limit integer)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    picked_ids bigint[];
BEGIN
    SELECT array_agg(c.user_id ORDER BY c.user_id) INTO picked_ids FROM (
        SELECT c.user_id FROM learner_counters c
        WHERE c.user_id IN (SELECT l.user_id FROM learner_deck_totals l WHERE l.t <> l.t_summed LIMIT p_limit * 4)
        ORDER BY c.user_id LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ) c;
    IF picked_ids IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM 1 FROM teams t WHERE t.id IN (SELECT m.team_id FROM memberships m WHERE m.user_id = ANY (picked_ids)) ORDER BY t.id FOR SHARE;
    -- A statement of its own: its snapshot, taken after the locks, holds every change made to these learners before.
    WITH picked AS (
        SELECT l.* FROM learner_deck_totals l WHERE l.user_id = ANY (picked_ids) AND l.t <> l.t_summed
    ), moves AS (
        SELECT p.team_id, p.deck_id, p.first_only, q.question_id, sum(p.t - p.t_summed) AS t, sum(p.t * p.t - p.t_summed * p.t_summed) AS tt,
               sum(CASE WHEN p.first_only THEN q.first_correct::integer::numeric ELSE q.correct_attempts::numeric / q.attempts END
                   * (p.t - p.t_summed)) AS xt
        FROM picked p
        JOIN deck_questions dq ON dq.deck_id = p.deck_id
        JOIN learner_question_stats q ON q.user_id = p.user_id AND q.question_id = dq.question_id
        GROUP BY 1, 2, 3, 4
    ), locked AS (
        SELECT s.team_id, s.deck_id, s.first_only, s.question_id FROM team_question_sums s
        JOIN moves m USING (team_id, deck_id, first_only, question_id)
        ORDER BY s.team_id, s.deck_id, s.first_only, s.question_id
        FOR NO KEY UPDATE OF s
    ), summed AS (
        UPDATE team_question_sums s SET sum_t = s.sum_t + m.t, sum_tt = s.sum_tt + m.tt, sum_xt = s.sum_xt + m.xt
        FROM moves m
        WHERE (SELECT count(*) FROM locked) >= 0
          AND s.team_id = m.team_id AND s.deck_id = m.deck_id AND s.first_only = m.first_only AND s.question_id = m.question_id
    )
    UPDATE learner_deck_totals l SET t_summed = p.t
    FROM picked p
    WHERE l.user_id = p.user_id AND l.team_id = p.team_id AND l.deck_id = p.deck_id AND l.first_only = p.first_only;
    RETURN cardinality(picked_ids);
END
$$;

-- 020's board and 010's learner report, reading the mastered counts where they now are.
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
END
$$;

CREATE OR REPLACE FUNCTION team_learner_report(p_team_id bigint, at_ms bigint, p_user_id bigint DEFAULT NULL)
RETURNS TABLE (team_id bigint, user_id bigint, username text, display_name text, questions_attempted bigint, attempts bigint,
               accuracy double precision, mastered integer, due bigint, streak integer, last_active_at bigint, inactive boolean)
LANGUAGE sql STABLE
AS $$
    SELECT m.team_id, u.id, u.username, u.display_name,
           coalesce(s.questions, 0), coalesce(s.attempts, 0),
           CASE WHEN coalesce(s.attempts, 0) > 0 THEN s.correct::double precision / s.attempts END,
           coalesce(c.mastered_count, 0),
           (SELECT count(*) FROM progress p WHERE p.user_id = u.id AND p.due <= at_ms),
           coalesce(current_streak(tot.streak_last_day, tot.streak_days, team_day(t.time_zone, at_ms)), 0),
           s.last_active_at,
           -- Inactive: nothing answered in the last 7 days.
           coalesce(s.last_active_at < at_ms - 7 * 86400000, true)
    FROM memberships m
    JOIN teams t ON t.id = m.team_id
    JOIN users u ON u.id = m.user_id
    LEFT JOIN learner_counters c ON c.user_id = m.user_id
    LEFT JOIN LATERAL (
        SELECT count(*) AS questions, sum(q.attempts) AS attempts, sum(q.correct_attempts) AS correct, max(q.last_answered_at) AS last_active_at
        FROM learner_question_stats q WHERE q.user_id = u.id
    ) s ON true
    LEFT JOIN activity_totals tot ON tot.user_id = u.id AND tot.time_zone = t.time_zone
    WHERE m.team_id = p_team_id AND m.role = 'member' AND (p_user_id IS NULL OR u.id = p_user_id)
$$;
