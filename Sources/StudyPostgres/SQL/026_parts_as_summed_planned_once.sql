-- 024's parts_as_summed was an SQL function whose body holds a subquery: PostgreSQL cannot inline such a function, and
-- before version 18 it plans an SQL function's body again on every call (a team member's push called it once). As
-- PL/pgSQL its statement is planned once per session, as the push's other functions' statements are. Same rows.
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
