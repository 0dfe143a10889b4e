-- A team member's push no longer moves their part of the question-report sums (issue 20: fifty members of one team
-- syncing at once reached 0.65-0.78 of the syncs per second of the same load with no team, the bar being 0.90). Until
-- now each push read the learner's parts of the questions it answered before and after their statistics changed (40
-- rows each for 20 answers) and appended the difference. Now it only marks the learner (`question_parts_pending`: the
-- attempts numbered after seq_above are not summed yet), and the background fold moves the sums from the parts of
-- those questions as the sums hold them to the parts as they are then: a learner who syncs five times between two
-- folds is diffed once. What the sums hold is kept beside the statistics: `learner_question_stats_summed`, the rows of
-- `learner_question_stats` as they were when last summed. A report adds what is pending as it adds the moves not folded
-- yet, so reports stay exact.
--
-- Invariant (018's, restated): a member's part of the sums is their parts computed from `learner_question_stats_summed`
-- (with the t_summed of their deck totals), and `learner_deck_totals.t` is their total over those rows; the rows differ
-- from `learner_question_stats` only for the questions of attempts numbered after a pending row's seq_above. Whatever
-- else changes a learner's part folds their pending row first and leaves the two tables equal (joins, leaves, a rebuild
-- of their aggregates: learner_question_parts_before, apply_learner_question_parts_whole; the folds of deck totals); a
-- deck's sums rebuilt from scratch sum the rows as summed.
CREATE TABLE learner_question_stats_summed (LIKE learner_question_stats INCLUDING DEFAULTS, PRIMARY KEY (user_id, question_id));
INSERT INTO learner_question_stats_summed SELECT * FROM learner_question_stats;

CREATE TABLE question_parts_pending (
    user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- The learner's attempts numbered after this one may have changed statistics the sums do not hold yet.
    seq_above bigint NOT NULL
);

-- A learner's parts of p_question_ids from the rows as summed: 022's learner_question_parts_of over
-- learner_question_stats_summed (t NULL).
CREATE FUNCTION learner_question_parts_summed_of(p_user_id bigint, p_question_ids text[])
RETURNS SETOF learner_question_part
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT td.team_id, td.deck_id, f.first_only, s.question_id,
           CASE WHEN f.first_only THEN 1 ELSE s.attempts END::bigint,
           CASE WHEN f.first_only THEN s.first_correct::integer ELSE s.correct_attempts END::bigint,
           CASE WHEN f.first_only THEN s.first_correct::integer::numeric ELSE s.correct_attempts::numeric / s.attempts END,
           NULL::numeric,
           CASE WHEN f.first_only THEN ARRAY(SELECT (k = ANY (s.first_chosen))::integer::bigint FROM generate_series(0, 9) k)
                ELSE s.option_counts::bigint[] END,
           duration_bucket(CASE WHEN f.first_only THEN s.first_duration_ms ELSE s.duration_ms_sum::double precision / s.attempts END)
    FROM memberships m
    JOIN team_decks td ON td.team_id = m.team_id
    JOIN deck_questions dq ON dq.deck_id = td.deck_id AND dq.question_id = ANY (p_question_ids)
    JOIN learner_question_stats_summed s ON s.user_id = p_user_id AND s.question_id = dq.question_id
    CROSS JOIN (VALUES (true), (false)) AS f(first_only)
    WHERE m.user_id = p_user_id AND m.role = 'member';
END
$$;

-- A learner's parts of p_question_ids as the sums hold them: from the rows as summed, each with the deck total the
-- sums hold (t_summed). As 022's first step, the parts read first, then joined with the totals: on Citus a statement on
-- the learner's shard cannot call a function that queries shards itself.
CREATE FUNCTION learner_question_parts_summed(p_user_id bigint, p_question_ids text[])
RETURNS learner_question_part[]
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    parts learner_question_part[];
BEGIN
    parts := ARRAY(SELECT p FROM learner_question_parts_summed_of(p_user_id, p_question_ids) p);
    RETURN ARRAY(
        SELECT ROW(p.team_id, p.deck_id, p.first_only, p.question_id, p.attempts, p.correct, p.x, l.t_summed, p.chosen, p.bucket)::learner_question_part
        FROM unnest(parts) p
        LEFT JOIN learner_deck_totals l
            ON l.user_id = p_user_id AND l.team_id = p.team_id AND l.deck_id = p.deck_id AND l.first_only = p.first_only);
END
$$;

-- The questions of a learner's pending row: those of their attempts numbered after seq_above (NULL: nothing pending).
CREATE FUNCTION learner_pending_questions(p_user_id bigint)
RETURNS text[]
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_above bigint;
BEGIN
    SELECT p.seq_above INTO v_above FROM question_parts_pending p WHERE p.user_id = p_user_id;
    IF v_above IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN ARRAY(SELECT DISTINCT a.question_id FROM attempts a WHERE a.user_id = p_user_id AND a.seq > v_above);
END
$$;

-- The learner's teams' locks (shared) and their deck totals on the decks of p_question_ids (FOR UPDATE), as the first step
-- of a change of their parts takes them (022).
CREATE FUNCTION lock_learner_question_parts(p_user_id bigint, p_question_ids text[])
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM lock_teams(ARRAY(SELECT m.team_id FROM memberships m WHERE m.user_id = p_user_id AND m.role = 'member'));
    PERFORM 1 FROM learner_deck_totals l
    WHERE l.user_id = p_user_id
      AND (l.team_id, l.deck_id) IN (
          SELECT td.team_id, td.deck_id FROM memberships m JOIN team_decks td ON td.team_id = m.team_id
          WHERE m.user_id = p_user_id AND m.role = 'member'
            AND EXISTS (SELECT 1 FROM deck_questions dq WHERE dq.deck_id = td.deck_id AND dq.question_id = ANY (p_question_ids)))
    ORDER BY l.user_id, l.team_id, l.deck_id, l.first_only FOR UPDATE;
END
$$;

-- Moves the sums from the learner's parts as summed to their parts now (022's second step, with the parts as summed as
-- the parts before), leaves the rows as summed equal to their statistics, and says whether anything was pending. The
-- caller holds the learner's lock.
CREATE FUNCTION fold_learner_pending_parts(p_user_id bigint)
RETURNS boolean
LANGUAGE plpgsql
AS $$
DECLARE
    v_ids text[];
BEGIN
    v_ids := learner_pending_questions(p_user_id);
    IF v_ids IS NULL THEN
        RETURN false;
    END IF;
    PERFORM lock_learner_question_parts(p_user_id, v_ids);
    PERFORM apply_learner_question_parts(p_user_id, NULL::bigint, v_ids, learner_question_parts_summed(p_user_id, v_ids));
    DELETE FROM learner_question_stats_summed s WHERE s.user_id = p_user_id AND s.question_id = ANY (v_ids);
    INSERT INTO learner_question_stats_summed SELECT * FROM learner_question_stats s WHERE s.user_id = p_user_id AND s.question_id = ANY (v_ids);
    DELETE FROM question_parts_pending p WHERE p.user_id = p_user_id;
    RETURN true;
END
$$;

-- Up to p_limit learners' pending parts folded, each learner's lock taken (skipping those a push holds); says how many.
CREATE FUNCTION fold_question_parts_pending(p_limit integer)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    v_ids bigint[];
BEGIN
    SELECT array_agg(c.user_id ORDER BY c.user_id) INTO v_ids FROM (
        SELECT c.user_id FROM learner_counters c
        WHERE c.user_id IN (SELECT p.user_id FROM question_parts_pending p LIMIT p_limit * 4)
        ORDER BY c.user_id LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ) c;
    IF v_ids IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM fold_learner_pending_parts(i) FROM unnest(v_ids) AS i ORDER BY i;
    RETURN cardinality(v_ids);
END
$$;

-- What folding the pending parts of the team's members would add to the sums of one deck and mode: the moves (as
-- append_question_sum_moves would append them); the learners concerned; and what their deck totals, as the fold would
-- leave them, add beside (as team_question_sums_current adds a moved total, by question). Read-only: a report runs it
-- (on a standby too). Each statement reads one learner's rows: on Citus, their shard.
CREATE FUNCTION pending_question_parts_moves(p_team_id bigint, p_deck_id text, p_first_only boolean,
                                             OUT moves jsonb, OUT learners bigint[], OUT totals_moved jsonb)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
    v_member bigint;
    v_ids text[];
    v_before learner_question_part[];
    v_now learner_question_part[];
    v_stored jsonb;
    v_totals jsonb;
    v_t numeric;
    v_t_summed numeric;
BEGIN
    moves := '[]';
    learners := '{}';
    totals_moved := '[]';
    FOR v_member IN
        SELECT p.user_id FROM question_parts_pending p
        WHERE p.user_id = ANY (ARRAY(SELECT m.user_id FROM memberships m WHERE m.team_id = p_team_id AND m.role = 'member'))
    LOOP
        v_ids := learner_pending_questions(v_member);
        CONTINUE WHEN v_ids IS NULL;
        v_before := ARRAY(SELECT b FROM unnest(learner_question_parts_summed(v_member, v_ids)) b
                          WHERE b.team_id = p_team_id AND b.deck_id = p_deck_id AND b.first_only = p_first_only);
        v_now := ARRAY(SELECT n FROM learner_question_parts_of(v_member, v_ids) n
                       WHERE n.team_id = p_team_id AND n.deck_id = p_deck_id AND n.first_only = p_first_only);
        IF cardinality(v_before) = 0 AND cardinality(v_now) = 0 THEN
            CONTINUE;
        END IF;
        SELECT coalesce(jsonb_agg(jsonb_build_object('t', l.t, 't_summed', l.t_summed)), '[]') INTO v_stored
        FROM learner_deck_totals l
        WHERE l.user_id = v_member AND l.team_id = p_team_id AND l.deck_id = p_deck_id AND l.first_only = p_first_only;
        -- As apply_learner_question_parts moves the row: t by the change of x, t_summed that of a new row.
        SELECT jsonb_build_array(jsonb_build_object('team_id', p_team_id, 'deck_id', p_deck_id, 'first_only', p_first_only,
                                                    't', coalesce(s.t, 0) + m.dx, 't_summed', coalesce(s.t_summed, m.dx)))
        INTO v_totals
        FROM (SELECT coalesce((SELECT sum(n.x) FROM unnest(v_now) n), 0) - coalesce((SELECT sum(b.x) FROM unnest(v_before) b), 0) AS dx) m
        LEFT JOIN jsonb_to_recordset(v_stored) AS s(t numeric, t_summed numeric) ON true;
        learners := learners || v_member;
        v_t := (v_totals -> 0 ->> 't')::numeric;
        v_t_summed := (v_totals -> 0 ->> 't_summed')::numeric;
        IF v_t <> v_t_summed THEN
            totals_moved := totals_moved || coalesce((
                SELECT jsonb_agg(jsonb_build_object(
                    'question_id', q.question_id, 't', v_t - v_t_summed, 'tt', v_t * v_t - v_t_summed * v_t_summed,
                    'xt', CASE WHEN p_first_only THEN q.first_correct::integer::numeric ELSE q.correct_attempts::numeric / q.attempts END
                          * (v_t - v_t_summed)))
                FROM learner_question_stats q
                JOIN deck_questions dq ON dq.deck_id = p_deck_id AND dq.question_id = q.question_id
                WHERE q.user_id = v_member), '[]');
        END IF;
        moves := moves || coalesce((SELECT jsonb_agg(to_jsonb(d)) FROM question_sum_moves_of(parts_as_summed(v_now, v_totals), v_before) d), '[]');
    END LOOP;
END
$$;

-- The rows append_question_sum_moves appends (024), for a learner's parts now and before, without appending them.
CREATE FUNCTION question_sum_moves_of(p_now learner_question_part[], p_before learner_question_part[])
RETURNS TABLE (team_id bigint, deck_id text, first_only boolean, question_id text, learners integer, attempts bigint, correct bigint,
               sum_x numeric, sum_xx numeric, sum_t numeric, sum_tt numeric, sum_xt numeric, option_moved bigint[], bucket_taken integer,
               bucket_added integer)
LANGUAGE plpgsql IMMUTABLE
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT d.team_id, d.deck_id, d.first_only, d.question_id, d.learners, d.attempts, d.correct, d.x, d.xx, d.t, d.tt, d.xt,
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

-- A push (019's function, same signature): the board aggregates as before, and the learner marked instead of their
-- question parts moved. parts_before is always NULL now: a server of before this migration, still running during a rollout, then
-- skips its second step, and its pushes are folded as the new servers' are.
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
    PERFORM add_board_activity(p_user_id, p_seq_above, p_up_to, zones);
    -- The learner's attempts after this page's first are not summed (the first unsummed page's mark is kept).
    IF p_question_ids IS NOT NULL THEN
        INSERT INTO question_parts_pending (user_id, seq_above) VALUES (p_user_id, p_seq_above) ON CONFLICT (user_id) DO NOTHING;
    END IF;
END
$$;
-- 024's second step of a change of every part, which leaves the rows as summed equal to the statistics.
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
    -- The first step folded anything pending: the sums now hold the learner's statistics as they are.
    DELETE FROM learner_question_stats_summed s WHERE s.user_id = p_user_id;
    INSERT INTO learner_question_stats_summed SELECT * FROM learner_question_stats s WHERE s.user_id = p_user_id;
END
$$;

-- 022's first step of a change of a learner's parts; a change of every part (a join, a leave) folds what is pending first.
CREATE OR REPLACE FUNCTION learner_question_parts_before(p_user_id bigint, p_team_id bigint, p_question_ids text[])
RETURNS learner_question_part[]
LANGUAGE plpgsql
AS $$
DECLARE
    parts learner_question_part[];
BEGIN
    -- p_team_id is locked whether the learner is a member yet or not: on joining, a deck published at the same moment
    -- is either in the team's sums before the learner's part is added, or published after it.
    -- A join, a leave, a rebuild of the learner's aggregates: their pending parts folded first (027), so that the parts
    -- read below are what the sums hold.
    IF p_question_ids IS NULL OR p_team_id IS NOT NULL THEN
        PERFORM fold_learner_pending_parts(p_user_id);
    END IF;
    PERFORM lock_teams(CASE WHEN p_team_id IS NULL
                            THEN ARRAY(SELECT m.team_id FROM memberships m WHERE m.user_id = p_user_id AND m.role = 'member')
                            ELSE ARRAY[p_team_id] END);
    IF p_question_ids IS NULL OR p_team_id IS NOT NULL THEN
        -- learner_decks_concerned's rows, by its condition: on Citus a statement on the learner's shard cannot call it.
        PERFORM 1 FROM learner_deck_totals l
        WHERE l.user_id = p_user_id AND (p_team_id IS NULL OR l.team_id = p_team_id)
          AND (p_question_ids IS NULL OR EXISTS (
                  SELECT 1 FROM deck_questions dq WHERE dq.deck_id = l.deck_id AND dq.question_id = ANY (p_question_ids)))
        ORDER BY l.user_id, l.team_id, l.deck_id, l.first_only FOR UPDATE;
        RETURN ARRAY(
            SELECT ROW(p.team_id, p.deck_id, p.first_only, p.question_id, p.attempts, p.correct, p.x, coalesce(c.t_summed, p.t), p.chosen,
                       p.bucket)::learner_question_part
            FROM learner_question_parts(p_user_id, p_team_id, p_question_ids) p
            LEFT JOIN learner_decks_concerned(p_user_id, p_team_id, p_question_ids) c USING (team_id, deck_id, first_only));
    END IF;
    -- A push (p_team_id NULL): only the parts of the questions it answers, each with its deck's row of totals, which
    -- the second step moves by the change of their x.
    PERFORM 1 FROM learner_deck_totals l
    WHERE l.user_id = p_user_id
      AND (l.team_id, l.deck_id) IN (
          SELECT td.team_id, td.deck_id FROM memberships m JOIN team_decks td ON td.team_id = m.team_id
          WHERE m.user_id = p_user_id AND m.role = 'member'
            AND EXISTS (SELECT 1 FROM deck_questions dq WHERE dq.deck_id = td.deck_id AND dq.question_id = ANY (p_question_ids)))
    ORDER BY l.user_id, l.team_id, l.deck_id, l.first_only FOR UPDATE;
    -- The parts read first, then joined with the totals: on Citus a statement on the learner's shard cannot call a
    -- function that queries shards itself.
    parts := ARRAY(SELECT p FROM learner_question_parts_of(p_user_id, p_question_ids) p);
    RETURN ARRAY(
        SELECT ROW(p.team_id, p.deck_id, p.first_only, p.question_id, p.attempts, p.correct, p.x, l.t_summed, p.chosen, p.bucket)::learner_question_part
        FROM unnest(parts) p
        LEFT JOIN learner_deck_totals l
            ON l.user_id = p_user_id AND l.team_id = p.team_id AND l.deck_id = p.deck_id AND l.first_only = p.first_only);
END
$$;

-- 022's batch fold of deck totals, the learners' pending parts folded first.
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
    PERFORM lock_teams(ARRAY(SELECT m.team_id FROM memberships m WHERE m.user_id = ANY (picked_ids)));
    -- Their pending parts first (027): the totals below are folded with their statistics as they are now.
    PERFORM fold_learner_pending_parts(i) FROM unnest(picked_ids) AS i ORDER BY i;
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

-- 022's fold of one learner, their pending parts folded first.
CREATE OR REPLACE FUNCTION fold_learner_question_sums(p_user_id bigint)
RETURNS boolean
LANGUAGE plpgsql
AS $$
DECLARE
    member_of bigint[];
    moved_in bigint[];
    moved jsonb;
    totals jsonb;
BEGIN
    -- "studysync fold".
    IF NOT pg_try_advisory_xact_lock(6004562213045061732) THEN
        RETURN false;
    END IF;
    PERFORM 1 FROM learner_counters c WHERE c.user_id = p_user_id FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    SELECT array_agg(m.team_id) INTO member_of FROM memberships m WHERE m.user_id = p_user_id;
    SELECT array_agg(DISTINCT mv.team_id) INTO moved_in FROM team_question_sum_moves mv WHERE mv.user_id = p_user_id;
    -- Exclusively: a report's read of the sums (team_question_sums_current) waits until every node sees this fold.
    PERFORM lock_teams(coalesce(member_of, '{}') || coalesce(moved_in, '{}'), true);
    -- Their pending parts first (027): they append moves, folded below.
    PERFORM fold_learner_pending_parts(p_user_id);

    -- The learner's rows read on their own, then the sums (on every node) moved by them: on Citus an update of the
    -- sums may not read the learners' shards.
    SELECT jsonb_agg(a) INTO moved FROM (
        SELECT g.team_id, g.deck_id, g.first_only, g.question_id, sum(g.learners) AS learners, sum(g.attempts) AS attempts,
               sum(g.correct) AS correct, sum(g.sum_x) AS sum_x, sum(g.sum_xx) AS sum_xx, sum(g.sum_t) AS sum_t, sum(g.sum_tt) AS sum_tt,
               sum(g.sum_xt) AS sum_xt,
               ARRAY[coalesce(sum(g.option_moved[1]), 0), coalesce(sum(g.option_moved[2]), 0), coalesce(sum(g.option_moved[3]), 0),
                     coalesce(sum(g.option_moved[4]), 0), coalesce(sum(g.option_moved[5]), 0), coalesce(sum(g.option_moved[6]), 0),
                     coalesce(sum(g.option_moved[7]), 0), coalesce(sum(g.option_moved[8]), 0), coalesce(sum(g.option_moved[9]), 0),
                     coalesce(sum(g.option_moved[10]), 0)]::bigint[] AS option_moved,
               bool_or(g.option_moved IS NOT NULL) AS options_moved,
               array_agg(g.bucket_taken) FILTER (WHERE g.bucket_taken IS NOT NULL) AS buckets_taken,
               array_agg(g.bucket_added) FILTER (WHERE g.bucket_added IS NOT NULL) AS buckets_added
        FROM team_question_sum_moves g WHERE g.user_id = p_user_id
        GROUP BY 1, 2, 3, 4
    ) a;
    UPDATE team_question_sums s SET
        learners = s.learners + a.learners, attempts = s.attempts + a.attempts, correct = s.correct + a.correct,
        sum_x = s.sum_x + a.sum_x, sum_xx = s.sum_xx + a.sum_xx, sum_t = s.sum_t + a.sum_t, sum_tt = s.sum_tt + a.sum_tt,
        sum_xt = s.sum_xt + a.sum_xt,
        option_chosen = CASE WHEN a.options_moved THEN ARRAY(SELECT c + coalesce(d, 0) FROM unnest(s.option_chosen, a.option_moved) AS u(c, d))
                             ELSE s.option_chosen END,
        duration_histogram = histogram_add(s.duration_histogram, a.buckets_taken, a.buckets_added)
    FROM jsonb_to_recordset(moved) AS a(team_id bigint, deck_id text, first_only boolean, question_id text, learners bigint, attempts bigint,
                                        correct bigint, sum_x numeric, sum_xx numeric, sum_t numeric, sum_tt numeric, sum_xt numeric,
                                        option_moved bigint[], options_moved boolean, buckets_taken integer[], buckets_added integer[])
    WHERE s.team_id = a.team_id AND s.deck_id = a.deck_id AND s.first_only = a.first_only AND s.question_id = a.question_id;
    DELETE FROM team_question_sum_moves WHERE user_id = p_user_id;

    SELECT jsonb_agg(m) INTO totals FROM (
        SELECT p.team_id, p.deck_id, p.first_only, q.question_id, sum(p.t - p.t_summed) AS t, sum(p.t * p.t - p.t_summed * p.t_summed) AS tt,
               sum(CASE WHEN p.first_only THEN q.first_correct::integer::numeric ELSE q.correct_attempts::numeric / q.attempts END
                   * (p.t - p.t_summed)) AS xt
        FROM learner_deck_totals p
        JOIN deck_questions dq ON dq.deck_id = p.deck_id
        JOIN learner_question_stats q ON q.user_id = p.user_id AND q.question_id = dq.question_id
        WHERE p.user_id = p_user_id AND p.t <> p.t_summed
        GROUP BY 1, 2, 3, 4
    ) m;
    UPDATE team_question_sums s SET sum_t = s.sum_t + m.t, sum_tt = s.sum_tt + m.tt, sum_xt = s.sum_xt + m.xt
    FROM jsonb_to_recordset(totals) AS m(team_id bigint, deck_id text, first_only boolean, question_id text, t numeric, tt numeric, xt numeric)
    WHERE s.team_id = m.team_id AND s.deck_id = m.deck_id AND s.first_only = m.first_only AND s.question_id = m.question_id;
    UPDATE learner_deck_totals SET t_summed = t WHERE user_id = p_user_id AND t <> t_summed;
    RETURN true;
END
$$;

-- Learners with something to fold, pending parts included.
CREATE OR REPLACE FUNCTION learners_to_fold(p_limit integer)
RETURNS SETOF bigint
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT u.user_id FROM (
        SELECT DISTINCT m.user_id FROM team_question_sum_moves m
        UNION
        SELECT DISTINCT l.user_id FROM learner_deck_totals l WHERE l.t <> l.t_summed
        UNION
        SELECT p.user_id FROM question_parts_pending p
    ) u
    ORDER BY u.user_id LIMIT p_limit;
END
$$;

-- The members' parts of a deck for its sums rebuilt from scratch (022), from the rows as summed (a member's pending
-- parts are added by the fold, as they are for the sums kept).
CREATE OR REPLACE FUNCTION team_deck_parts(p_team_id bigint, p_deck_id text)
RETURNS TABLE (user_id bigint, first_only boolean, question_id text, attempts bigint, correct bigint, x numeric, t numeric, chosen bigint[],
               bucket integer)
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT a.user_id, a.first_only, a.question_id, a.attempts, a.correct, a.x, sum(a.x) OVER (PARTITION BY a.user_id, a.first_only), a.chosen,
           a.bucket
    FROM (
        SELECT s.user_id, f.first_only, s.question_id,
               CASE WHEN f.first_only THEN 1 ELSE s.attempts END::bigint AS attempts,
               CASE WHEN f.first_only THEN s.first_correct::integer ELSE s.correct_attempts END::bigint AS correct,
               CASE WHEN f.first_only THEN s.first_correct::integer::numeric ELSE s.correct_attempts::numeric / s.attempts END AS x,
               CASE WHEN f.first_only THEN ARRAY[(0 = ANY (s.first_chosen))::integer, (1 = ANY (s.first_chosen))::integer, (2 = ANY (s.first_chosen))::integer, (3 = ANY (s.first_chosen))::integer, (4 = ANY (s.first_chosen))::integer, (5 = ANY (s.first_chosen))::integer, (6 = ANY (s.first_chosen))::integer, (7 = ANY (s.first_chosen))::integer, (8 = ANY (s.first_chosen))::integer, (9 = ANY (s.first_chosen))::integer]::bigint[]
                    ELSE s.option_counts::bigint[] END AS chosen,
               duration_bucket(CASE WHEN f.first_only THEN s.first_duration_ms ELSE s.duration_ms_sum::double precision / s.attempts END) AS bucket
        FROM memberships m
        JOIN learner_question_stats_summed s ON s.user_id = m.user_id
        JOIN deck_questions dq ON dq.question_id = s.question_id
        CROSS JOIN (VALUES (true), (false)) AS f(first_only)
        WHERE m.team_id = p_team_id AND m.role = 'member' AND dq.deck_id = p_deck_id
    ) a;
END
$$;

-- 022's sums as a report reads them, with what folding the members' pending parts would add (027): their moves beside
-- the moves appended, and their deck totals as the fold would leave them in place of the stored ones.
CREATE OR REPLACE FUNCTION team_question_sums_current(p_team_id bigint, p_deck_id text, p_first_only boolean)
RETURNS SETOF team_question_sums
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
DECLARE
    pending record;
    moved jsonb;
    added jsonb;
BEGIN
    -- On Citus, the team's lock (022).
    IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        PERFORM lock_teams(ARRAY[p_team_id]);
    END IF;
    SELECT * INTO pending FROM pending_question_parts_moves(p_team_id, p_deck_id, p_first_only);
    -- What the sums lack, read first, each a query of the learners' tables alone (022): the moved totals of the learners
    -- with nothing pending, then with those of the others.
    SELECT jsonb_agg(m) INTO moved FROM (
        SELECT q.question_id, sum(u.dt) AS t, sum(u.dtt) AS tt,
               sum(CASE WHEN p_first_only THEN q.first_correct::integer::numeric ELSE q.correct_attempts::numeric / q.attempts END * u.dt) AS xt
        FROM (
            SELECT l.user_id, l.t - l.t_summed AS dt, l.t * l.t - l.t_summed * l.t_summed AS dtt
            FROM learner_deck_totals l
            WHERE l.team_id = p_team_id AND l.deck_id = p_deck_id AND l.first_only = p_first_only AND l.t <> l.t_summed
              AND l.user_id <> ALL (pending.learners)
        ) u
        JOIN learner_question_stats q ON q.user_id = u.user_id
        JOIN deck_questions dq ON dq.deck_id = p_deck_id AND dq.question_id = q.question_id
        GROUP BY q.question_id
    ) m;
    SELECT jsonb_agg(m) INTO moved FROM (
        SELECT x.question_id, sum(x.t) AS t, sum(x.tt) AS tt, sum(x.xt) AS xt
        FROM (SELECT * FROM jsonb_to_recordset(moved) AS y(question_id text, t numeric, tt numeric, xt numeric)
              UNION ALL
              SELECT * FROM jsonb_to_recordset(pending.totals_moved) AS y(question_id text, t numeric, tt numeric, xt numeric)) x
        GROUP BY x.question_id
    ) m;
    SELECT jsonb_agg(a) INTO added FROM (
        SELECT m.question_id, sum(m.learners)::bigint AS learners, sum(m.attempts)::bigint AS attempts, sum(m.correct)::bigint AS correct,
               sum(m.sum_x) AS sum_x, sum(m.sum_xx) AS sum_xx, sum(m.sum_t) AS sum_t, sum(m.sum_tt) AS sum_tt, sum(m.sum_xt) AS sum_xt,
               CASE WHEN bool_or(m.option_moved IS NOT NULL) THEN
                   ARRAY[coalesce(sum(m.option_moved[1]), 0), coalesce(sum(m.option_moved[2]), 0), coalesce(sum(m.option_moved[3]), 0),
                         coalesce(sum(m.option_moved[4]), 0), coalesce(sum(m.option_moved[5]), 0), coalesce(sum(m.option_moved[6]), 0),
                         coalesce(sum(m.option_moved[7]), 0), coalesce(sum(m.option_moved[8]), 0), coalesce(sum(m.option_moved[9]), 0),
                         coalesce(sum(m.option_moved[10]), 0)]::bigint[] END AS option_moved,
               array_agg(m.bucket_taken) FILTER (WHERE m.bucket_taken IS NOT NULL) AS buckets_taken,
               array_agg(m.bucket_added) FILTER (WHERE m.bucket_added IS NOT NULL) AS buckets_added
        FROM (
            SELECT g.question_id, g.learners, g.attempts, g.correct, g.sum_x, g.sum_xx, g.sum_t, g.sum_tt, g.sum_xt, g.option_moved,
                   g.bucket_taken, g.bucket_added
            FROM team_question_sum_moves g
            WHERE g.team_id = p_team_id AND g.deck_id = p_deck_id AND g.first_only = p_first_only
            UNION ALL
            SELECT g.question_id, g.learners, g.attempts, g.correct, g.sum_x, g.sum_xx, g.sum_t, g.sum_tt, g.sum_xt, g.option_moved,
                   g.bucket_taken, g.bucket_added
            FROM jsonb_to_recordset(pending.moves) AS g(question_id text, learners integer, attempts bigint, correct bigint, sum_x numeric,
                                                        sum_xx numeric, sum_t numeric, sum_tt numeric, sum_xt numeric, option_moved bigint[],
                                                        bucket_taken integer, bucket_added integer)
        ) m
        GROUP BY m.question_id
    ) a;
    RETURN QUERY
    SELECT s.team_id, s.deck_id, s.first_only, s.question_id, s.learners + coalesce(a.learners, 0), s.attempts + coalesce(a.attempts, 0),
           s.correct + coalesce(a.correct, 0), s.sum_x + coalesce(a.sum_x, 0), s.sum_xx + coalesce(a.sum_xx, 0),
           s.sum_t + coalesce(a.sum_t, 0) + coalesce(m.t, 0), s.sum_tt + coalesce(a.sum_tt, 0) + coalesce(m.tt, 0),
           s.sum_xt + coalesce(a.sum_xt, 0) + coalesce(m.xt, 0),
           CASE WHEN a.option_moved IS NULL THEN s.option_chosen
                ELSE ARRAY(SELECT c + coalesce(d, 0) FROM unnest(s.option_chosen, a.option_moved) AS u(c, d)) END,
           histogram_add(s.duration_histogram, a.buckets_taken, a.buckets_added)
    FROM team_question_sums s
    LEFT JOIN jsonb_to_recordset(moved) AS m(question_id text, t numeric, tt numeric, xt numeric) ON m.question_id = s.question_id
    LEFT JOIN jsonb_to_recordset(added) AS a(question_id text, learners bigint, attempts bigint, correct bigint, sum_x numeric, sum_xx numeric,
                                             sum_t numeric, sum_tt numeric, sum_xt numeric, option_moved bigint[], buckets_taken integer[],
                                             buckets_added integer[])
        ON a.question_id = s.question_id
    WHERE s.team_id = p_team_id AND s.deck_id = p_deck_id AND s.first_only = p_first_only;
END
$$;

-- Planned once per session on one PostgreSQL, as the push's other functions (SQL/citus/distribute.sql plans them with
-- the values known on Citus).
ALTER FUNCTION learner_question_parts_summed(bigint, text[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION learner_question_parts_summed_of(bigint, text[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION learner_pending_questions(bigint) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION lock_learner_question_parts(bigint, text[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION fold_learner_pending_parts(bigint) SET plan_cache_mode = force_generic_plan;
