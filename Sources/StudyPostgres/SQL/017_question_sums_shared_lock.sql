-- A class after a lesson: its learners push at the same moment, and each push moves its part of the team's question
-- report sums (011). Until now `learner_question_parts_before` locked the learner's teams exclusively (FOR NO KEY
-- UPDATE) to the commit, so one team's pushes ran one at a time from that step on, their reads of the learner's parts
-- included. Now a change of a learner's parts takes the teams' rows FOR SHARE (pushes of one team no longer wait for one
-- another there; a publish, which rebuilds a deck's sums from scratch, still takes FOR NO KEY UPDATE and so waits for
-- them, and they for it), and `apply_learner_question_parts` locks the sums rows it may change, in key order (so two
-- learners' changes cannot deadlock), just before changing them. Only the update and the commit are then one at a time.
-- The sums stay exact: each learner's change is the difference of their own parts, read under their own row lock, and
-- differences add in any order.
CREATE OR REPLACE FUNCTION learner_question_parts_before(p_user_id bigint, p_team_id bigint, p_question_ids text[])
RETURNS learner_question_part[]
LANGUAGE plpgsql
AS $$
BEGIN
    -- p_team_id is locked whether the learner is a member yet or not: on joining, a deck published at the same moment
    -- is either in the team's sums before the learner's part is added, or published after it.
    PERFORM 1 FROM teams t
    WHERE CASE WHEN p_team_id IS NULL THEN t.id IN (SELECT m.team_id FROM memberships m WHERE m.user_id = p_user_id AND m.role = 'member')
               ELSE t.id = p_team_id END
    ORDER BY t.id FOR SHARE;
    RETURN ARRAY(SELECT p FROM learner_question_parts(p_user_id, p_team_id, p_question_ids) p);
END
$$;

CREATE OR REPLACE FUNCTION apply_learner_question_parts(p_user_id bigint, p_team_id bigint, p_question_ids text[], p_before learner_question_part[])
RETURNS void
LANGUAGE sql
AS $$
    WITH n AS (
        SELECT * FROM learner_question_parts(p_user_id, p_team_id, p_question_ids)
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
        FROM n FULL JOIN unnest(p_before) b USING (team_id, deck_id, first_only, question_id)
    ), changed AS (
        SELECT * FROM d
        WHERE d.learners <> 0 OR d.attempts <> 0 OR d.correct <> 0 OR d.x <> 0 OR d.xx <> 0 OR d.t <> 0 OR d.tt <> 0 OR d.xt <> 0
              OR d.chosen_before IS DISTINCT FROM d.chosen_now OR d.bucket_before IS DISTINCT FROM d.bucket_now
    ), locked AS (
        -- In key order: every change of one team's sums locks its rows in the same order.
        SELECT s.team_id, s.deck_id, s.first_only, s.question_id FROM team_question_sums s
        JOIN changed c USING (team_id, deck_id, first_only, question_id)
        ORDER BY s.team_id, s.deck_id, s.first_only, s.question_id
        FOR NO KEY UPDATE OF s
    )
    UPDATE team_question_sums s SET
        learners = s.learners + d.learners,
        attempts = s.attempts + d.attempts,
        correct = s.correct + d.correct,
        sum_x = s.sum_x + d.x,
        sum_xx = s.sum_xx + d.xx,
        sum_t = s.sum_t + d.t,
        sum_tt = s.sum_tt + d.tt,
        sum_xt = s.sum_xt + d.xt,
        option_chosen = CASE WHEN d.chosen_before IS DISTINCT FROM d.chosen_now
                             THEN ARRAY(SELECT a - coalesce(b, 0) + coalesce(n, 0) FROM unnest(s.option_chosen, d.chosen_before, d.chosen_now) AS u(a, b, n))
                             ELSE s.option_chosen END,
        duration_histogram = CASE WHEN d.bucket_before IS DISTINCT FROM d.bucket_now
                                  THEN histogram_move(s.duration_histogram, d.bucket_before, d.bucket_now)
                                  ELSE s.duration_histogram END
    FROM changed d
    WHERE (SELECT count(*) FROM locked) >= 0
      AND s.team_id = d.team_id AND s.deck_id = d.deck_id AND s.first_only = d.first_only AND s.question_id = d.question_id;
$$;
