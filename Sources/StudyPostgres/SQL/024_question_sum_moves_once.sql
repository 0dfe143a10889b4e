-- One statement for the moves of a learner's question-report sums (022 wrote it twice: in apply_learner_question_parts
-- and in apply_learner_question_parts_whole), and the whole path staged in variables as the per-question path already
-- is (022), so that on Citus neither broadcasts a CTE's result to every worker. Same results as 022.

-- Appends the change from the learner's parts before (p_before) to their parts now (p_now, whose t is the deck total
-- the sums hold for the learner, t_summed): one row per question whose contribution changed. Appended, never updated:
-- members of one team pushing at once do not wait for one another's sums rows.
CREATE FUNCTION append_question_sum_moves(p_user_id bigint, p_now learner_question_part[], p_before learner_question_part[])
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO team_question_sum_moves (user_id, team_id, deck_id, first_only, question_id, learners, attempts, correct, sum_x, sum_xx,
                                         sum_t, sum_tt, sum_xt, option_moved, bucket_taken, bucket_added)
    SELECT p_user_id, d.team_id, d.deck_id, d.first_only, d.question_id, d.learners, d.attempts, d.correct, d.x, d.xx, d.t, d.tt, d.xt,
           CASE WHEN d.chosen_before IS DISTINCT FROM d.chosen_now
                THEN ARRAY(SELECT coalesce(n, 0) - coalesce(b, 0) FROM unnest(d.chosen_now, d.chosen_before) AS u(n, b)) END,
           CASE WHEN d.bucket_before IS DISTINCT FROM d.bucket_now THEN d.bucket_before END,
           CASE WHEN d.bucket_before IS DISTINCT FROM d.bucket_now THEN d.bucket_now END
    FROM (
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
        FROM unnest(p_now) n
        FULL JOIN unnest(p_before) b USING (team_id, deck_id, first_only, question_id)
    ) d
    WHERE d.learners <> 0 OR d.attempts <> 0 OR d.correct <> 0 OR d.x <> 0 OR d.xx <> 0 OR d.t <> 0 OR d.tt <> 0 OR d.xt <> 0
          OR d.chosen_before IS DISTINCT FROM d.chosen_now OR d.bucket_before IS DISTINCT FROM d.bucket_now;
END
$$;

-- The learner's parts now, each with the deck total the sums hold (t_summed from p_totals, as staged below).
CREATE FUNCTION parts_as_summed(p_now learner_question_part[], p_totals jsonb)
RETURNS learner_question_part[]
LANGUAGE sql IMMUTABLE
RETURN ARRAY(
    SELECT ROW(n.team_id, n.deck_id, n.first_only, n.question_id, n.attempts, n.correct, n.x, s.t_summed, n.chosen, n.bucket)::learner_question_part
    FROM unnest(p_now) n
    JOIN jsonb_to_recordset(p_totals) AS s(team_id bigint, deck_id text, first_only boolean, t numeric, t_summed numeric)
        USING (team_id, deck_id, first_only));

-- Joins, leaves, a deck published, every question (p_question_ids NULL): the learner's totals on the decks concerned
-- set from their parts (and dropped where they have none left), then the moves.
CREATE OR REPLACE FUNCTION apply_learner_question_parts_whole(p_user_id bigint, p_team_id bigint, p_question_ids text[], p_before learner_question_part[])
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_now learner_question_part[];
    v_held jsonb;
    v_totals jsonb;
BEGIN
    v_now := ARRAY(SELECT n FROM learner_question_parts(p_user_id, p_team_id, p_question_ids) n);
    SELECT coalesce(jsonb_agg(jsonb_build_object('team_id', h.team_id, 'deck_id', h.deck_id, 'first_only', h.first_only,
                                                 't_summed', h.t_summed)), '[]')
    INTO v_held
    FROM learner_decks_concerned(p_user_id, p_team_id, p_question_ids) h;
    SELECT coalesce(jsonb_agg(jsonb_build_object('team_id', c.team_id, 'deck_id', c.deck_id, 'first_only', c.first_only, 't', c.t,
                                                 't_summed', CASE WHEN p_question_ids IS NULL OR h.t_summed IS NULL THEN c.t ELSE h.t_summed END)),
                    '[]')
    INTO v_totals
    FROM (SELECT DISTINCT n.team_id, n.deck_id, n.first_only, n.t FROM unnest(v_now) n) c
    LEFT JOIN jsonb_to_recordset(v_held) AS h(team_id bigint, deck_id text, first_only boolean, t_summed numeric)
        ON h.team_id = c.team_id AND h.deck_id = c.deck_id AND h.first_only = c.first_only;
    INSERT INTO learner_deck_totals AS l (user_id, team_id, deck_id, first_only, t, t_summed)
    SELECT p_user_id, s.team_id, s.deck_id, s.first_only, s.t, s.t_summed
    FROM jsonb_to_recordset(v_totals) AS s(team_id bigint, deck_id text, first_only boolean, t numeric, t_summed numeric)
    ON CONFLICT (user_id, team_id, deck_id, first_only) DO UPDATE SET t = excluded.t, t_summed = excluded.t_summed;
    DELETE FROM learner_deck_totals l
    USING jsonb_to_recordset(v_held) AS h(team_id bigint, deck_id text, first_only boolean, t_summed numeric)
    WHERE l.user_id = p_user_id AND l.team_id = h.team_id AND l.deck_id = h.deck_id AND l.first_only = h.first_only
      AND NOT EXISTS (SELECT 1 FROM jsonb_to_recordset(v_totals) AS c(team_id bigint, deck_id text, first_only boolean)
                      WHERE c.team_id = h.team_id AND c.deck_id = h.deck_id AND c.first_only = h.first_only);
    PERFORM append_question_sum_moves(p_user_id, parts_as_summed(v_now, v_totals), p_before);
END
$$;

-- A push's questions: as 022, with the moves by append_question_sum_moves.
CREATE OR REPLACE FUNCTION apply_learner_question_parts(p_user_id bigint, p_team_id bigint, p_question_ids text[], p_before learner_question_part[])
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_now learner_question_part[];
    v_stored jsonb;
    v_totals jsonb;
BEGIN
    IF p_question_ids IS NULL OR p_team_id IS NOT NULL THEN
        PERFORM apply_learner_question_parts_whole(p_user_id, p_team_id, p_question_ids, p_before);
        RETURN;
    END IF;
    v_now := ARRAY(SELECT n FROM learner_question_parts_of(p_user_id, p_question_ids) n);
    SELECT coalesce(jsonb_agg(jsonb_build_object('team_id', l.team_id, 'deck_id', l.deck_id, 'first_only', l.first_only, 't', l.t,
                                                 't_summed', l.t_summed)), '[]')
    INTO v_stored
    FROM learner_deck_totals l WHERE l.user_id = p_user_id;
    -- The learner's totals on the decks concerned, moved by the change of their parts.
    SELECT coalesce(jsonb_agg(jsonb_build_object('team_id', m.team_id, 'deck_id', m.deck_id, 'first_only', m.first_only,
                                                 't', coalesce(l.t, 0) + m.dx, 't_summed', coalesce(l.t_summed, m.dx))), '[]')
    INTO v_totals
    FROM (
        SELECT k.team_id, k.deck_id, k.first_only, sum(k.x) AS dx
        FROM (SELECT n.team_id, n.deck_id, n.first_only, n.x FROM unnest(v_now) n
              UNION ALL SELECT b.team_id, b.deck_id, b.first_only, -b.x FROM unnest(p_before) b) k
        GROUP BY 1, 2, 3
    ) m
    LEFT JOIN jsonb_to_recordset(v_stored) AS l(team_id bigint, deck_id text, first_only boolean, t numeric, t_summed numeric)
        ON l.team_id = m.team_id AND l.deck_id = m.deck_id AND l.first_only = m.first_only;
    INSERT INTO learner_deck_totals AS l (user_id, team_id, deck_id, first_only, t, t_summed)
    SELECT p_user_id, s.team_id, s.deck_id, s.first_only, s.t, s.t_summed
    FROM jsonb_to_recordset(v_totals) AS s(team_id bigint, deck_id text, first_only boolean, t numeric, t_summed numeric)
    ON CONFLICT (user_id, team_id, deck_id, first_only) DO UPDATE SET t = excluded.t;
    PERFORM append_question_sum_moves(p_user_id, parts_as_summed(v_now, v_totals), p_before);
END
$$;
-- Planned once per session and kept, as in 022 (a replaced function's settings are its new definition's); Citus plans
-- them with the values known (SQL/citus/distribute.sql).
ALTER FUNCTION apply_learner_question_parts(bigint, bigint, text[], learner_question_part[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION append_question_sum_moves(bigint, learner_question_part[], learner_question_part[]) SET plan_cache_mode = force_generic_plan;
