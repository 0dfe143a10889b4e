-- The background fold of the question-report sums (018), one learner at a time: what a server on Citus runs (issue 21).
-- 018's folds pick rows across learners under row locks (FOR UPDATE SKIP LOCKED over many learners' rows), which Citus
-- runs only within one shard. This fold takes one learner's lock, by an equality on user_id, and folds their moves and
-- their moved deck totals in one transaction. A server on one PostgreSQL keeps 018's batch folds; both give the same
-- sums (tests fold both ways and compare with a rebuild).

-- Citus cannot run an SQL function that reads its tables with the function's arguments as parameters ("parameterized
-- queries for SQL functions referencing distributed tables are not supported"); it plans a PL/pgSQL function's
-- statements one by one with the values known. So every function that reads a table is PL/pgSQL from here on, on one
-- PostgreSQL too (one schema for both): the same queries (010, 011, 018, 021), each as RETURN QUERY, and 018's second
-- step of a change of every part.
CREATE OR REPLACE FUNCTION learner_decks_concerned(p_user_id bigint, p_team_id bigint, p_question_ids text[])
RETURNS TABLE (team_id bigint, deck_id text, first_only boolean, t_summed numeric)
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT l.team_id, l.deck_id, l.first_only, l.t_summed FROM learner_deck_totals l
    WHERE l.user_id = p_user_id AND (p_team_id IS NULL OR l.team_id = p_team_id)
      AND (p_question_ids IS NULL OR EXISTS (
              SELECT 1 FROM deck_questions dq WHERE dq.deck_id = l.deck_id AND dq.question_id = ANY (p_question_ids)));
END
$$;

CREATE OR REPLACE FUNCTION learner_question_parts(p_user_id bigint, p_team_id bigint, p_question_ids text[])
RETURNS SETOF learner_question_part
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH decks AS (
        SELECT td.team_id, td.deck_id FROM memberships m JOIN team_decks td ON td.team_id = m.team_id
        WHERE m.user_id = p_user_id AND m.role = 'member' AND (p_team_id IS NULL OR m.team_id = p_team_id)
          AND (p_question_ids IS NULL OR EXISTS (
                  SELECT 1 FROM deck_questions dq WHERE dq.deck_id = td.deck_id AND dq.question_id = ANY (p_question_ids)))
    ), answered AS (
        SELECT d.team_id, d.deck_id, f.first_only, s.question_id, s.attempts, s.correct_attempts, s.first_correct, s.first_chosen,
               s.option_counts, s.first_duration_ms, s.duration_ms_sum,
               CASE WHEN f.first_only THEN s.first_correct::integer::numeric ELSE s.correct_attempts::numeric / s.attempts END AS x
        FROM decks d
        JOIN deck_questions dq ON dq.deck_id = d.deck_id
        JOIN learner_question_stats s ON s.user_id = p_user_id AND s.question_id = dq.question_id
        CROSS JOIN (VALUES (true), (false)) AS f(first_only)
    ), totals AS (
        SELECT a.team_id, a.deck_id, a.first_only, sum(a.x) AS t FROM answered a GROUP BY 1, 2, 3
    )
    SELECT a.team_id, a.deck_id, a.first_only, a.question_id,
           CASE WHEN a.first_only THEN 1 ELSE a.attempts END::bigint,
           CASE WHEN a.first_only THEN a.first_correct::integer ELSE a.correct_attempts END::bigint,
           a.x, t.t,
           CASE WHEN a.first_only THEN ARRAY(SELECT (k = ANY (a.first_chosen))::integer::bigint FROM generate_series(0, 9) k)
                ELSE a.option_counts::bigint[] END,
           duration_bucket(CASE WHEN a.first_only THEN a.first_duration_ms ELSE a.duration_ms_sum::double precision / a.attempts END)
    FROM answered a JOIN totals t USING (team_id, deck_id, first_only)
    WHERE p_question_ids IS NULL OR a.question_id = ANY (p_question_ids);
END
$$;

CREATE OR REPLACE FUNCTION learner_question_parts_of(p_user_id bigint, p_question_ids text[])
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
    JOIN learner_question_stats s ON s.user_id = p_user_id AND s.question_id = dq.question_id
    CROSS JOIN (VALUES (true), (false)) AS f(first_only)
    WHERE m.user_id = p_user_id AND m.role = 'member';
END
$$;

-- The members first (reference tables), then each learner table read for those members alone and staged, then joined:
-- Citus joins a distributed table with reference tables only on the distribution column, which the members' rows give
-- once they are values.
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
    RETURN QUERY
    SELECT m.team_id, u.id, u.username, u.display_name,
           coalesce(s.questions, 0), coalesce(s.attempts, 0),
           CASE WHEN coalesce(s.attempts, 0) > 0 THEN s.correct::double precision / s.attempts END,
           coalesce(c.mastered_count, 0),
           coalesce(d.due, 0),
           coalesce(current_streak(tot.streak_last_day, tot.streak_days, team_day(v_time_zone, at_ms)), 0),
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
    WHERE m.team_id = p_team_id AND m.role = 'member' AND m.user_id = ANY (v_members);
END
$$;

CREATE OR REPLACE FUNCTION team_question_report(p_team_id bigint, p_deck_id text, first_only boolean)
RETURNS TABLE (team_id bigint, deck_id text, question_position integer, question_id text, learners bigint, attempts bigint,
               facility double precision, discrimination double precision, option_chosen bigint[], correct_options smallint[],
               median_duration_ms double precision)
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT r.team_id, r.deck_id, r.question_position, r.question_id, r.learners, r.attempts, r.facility, r.discrimination, r.option_chosen,
           r.correct_options, duration_histogram_median(r.duration_histogram)
    FROM team_question_sums_report(p_team_id, p_deck_id, first_only) r;
END
$$;

CREATE OR REPLACE FUNCTION team_question_sum_moves_added(p_team_id bigint, p_deck_id text, p_first_only boolean)
RETURNS TABLE (team_id bigint, deck_id text, first_only boolean, question_id text, learners bigint, attempts bigint, correct bigint,
               sum_x numeric, sum_xx numeric, sum_t numeric, sum_tt numeric, sum_xt numeric, option_moved bigint[], buckets_taken integer[],
               buckets_added integer[])
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT m.team_id, m.deck_id, m.first_only, m.question_id, sum(m.learners)::bigint, sum(m.attempts)::bigint, sum(m.correct)::bigint,
           sum(m.sum_x), sum(m.sum_xx), sum(m.sum_t), sum(m.sum_tt), sum(m.sum_xt),
           ARRAY[coalesce(sum(m.option_moved[1]), 0), coalesce(sum(m.option_moved[2]), 0), coalesce(sum(m.option_moved[3]), 0),
                 coalesce(sum(m.option_moved[4]), 0), coalesce(sum(m.option_moved[5]), 0), coalesce(sum(m.option_moved[6]), 0),
                 coalesce(sum(m.option_moved[7]), 0), coalesce(sum(m.option_moved[8]), 0), coalesce(sum(m.option_moved[9]), 0),
                 coalesce(sum(m.option_moved[10]), 0)]::bigint[],
           array_agg(m.bucket_taken) FILTER (WHERE m.bucket_taken IS NOT NULL),
           array_agg(m.bucket_added) FILTER (WHERE m.bucket_added IS NOT NULL)
    FROM team_question_sum_moves m
    WHERE m.team_id = p_team_id AND m.deck_id = p_deck_id AND m.first_only = p_first_only
    GROUP BY m.team_id, m.deck_id, m.first_only, m.question_id;
END
$$;

CREATE OR REPLACE FUNCTION team_question_sums_current(p_team_id bigint, p_deck_id text, p_first_only boolean)
RETURNS SETOF team_question_sums
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
DECLARE
    moved jsonb;
    added jsonb;
BEGIN
    -- On one PostgreSQL the statements below read one snapshot, the calling query's (a STABLE function's). On Citus each
    -- node reads its own, and a fold's two-phase commit (moves deleted on a worker, sums changed on every node) does not
    -- become visible on all nodes at once: the team's lock, shared, keeps this read from falling between, as a fold
    -- takes it exclusively (fold_learner_question_sums).
    IF to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        PERFORM lock_teams(ARRAY[p_team_id]);
    END IF;
    -- What the sums lack, read first, each a query of the learners' tables alone: on Citus a statement that joins the
    -- sums (on every node) may run on a node's copy, where a function in it could not query the learners' shards.
    SELECT jsonb_agg(m) INTO moved FROM (
        SELECT q.question_id, sum(u.dt) AS t, sum(u.dtt) AS tt,
               sum(CASE WHEN p_first_only THEN q.first_correct::integer::numeric ELSE q.correct_attempts::numeric / q.attempts END * u.dt) AS xt
        FROM (
            SELECT l.user_id, l.t - l.t_summed AS dt, l.t * l.t - l.t_summed * l.t_summed AS dtt
            FROM learner_deck_totals l
            WHERE l.team_id = p_team_id AND l.deck_id = p_deck_id AND l.first_only = p_first_only AND l.t <> l.t_summed
        ) u
        JOIN learner_question_stats q ON q.user_id = u.user_id
        JOIN deck_questions dq ON dq.deck_id = p_deck_id AND dq.question_id = q.question_id
        GROUP BY q.question_id
    ) m;
    SELECT jsonb_agg(a) INTO added FROM team_question_sum_moves_added(p_team_id, p_deck_id, p_first_only) a;
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

CREATE OR REPLACE FUNCTION team_question_sums_report(p_team_id bigint, p_deck_id text, p_first_only boolean)
RETURNS TABLE (team_id bigint, deck_id text, question_position integer, question_id text, learners bigint, attempts bigint,
               facility double precision, discrimination double precision, option_chosen bigint[], correct_options smallint[],
               duration_histogram integer[])
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
DECLARE
    sums jsonb;
BEGIN
    -- The sums first, on their own (see team_question_sums_current).
    SELECT jsonb_agg(c) INTO sums FROM team_question_sums_current(p_team_id, p_deck_id, p_first_only) c;
    RETURN QUERY
    SELECT p_team_id, p_deck_id, dq.position, dq.question_id, coalesce(s.learners, 0), coalesce(s.attempts, 0),
           CASE WHEN s.attempts > 0 THEN s.correct::double precision / s.attempts END,
           CASE WHEN s.learners >= 2 AND c.var_x > 0 AND c.var_y > 0 THEN (c.cov / sqrt(c.var_x * c.var_y))::double precision END,
           (coalesce(s.option_chosen, array_fill(0::bigint, ARRAY[10])))[1:cardinality(v.options)], v.correct,
           s.duration_histogram
    FROM deck_questions dq
    JOIN question_versions v ON v.question_id = dq.question_id AND v.version = dq.version
    LEFT JOIN jsonb_populate_recordset(NULL::team_question_sums, sums) s ON s.question_id = dq.question_id
    -- With y = t - x: Σy = Σt - Σx, Σy² = Σt² - 2Σxt + Σx², Σxy = Σxt - Σx².
    LEFT JOIN LATERAL (
        SELECT s.learners * s.sum_xx - s.sum_x * s.sum_x AS var_x,
               s.learners * (s.sum_tt - 2 * s.sum_xt + s.sum_xx) - (s.sum_t - s.sum_x) * (s.sum_t - s.sum_x) AS var_y,
               s.learners * (s.sum_xt - s.sum_xx) - s.sum_x * (s.sum_t - s.sum_x) AS cov
    ) c ON true
    WHERE dq.deck_id = p_deck_id
    ORDER BY dq.position;
END
$$;

-- A team's lock: what a push, a fold and a publish took as the team's row lock until now (FOR SHARE in a push or a fold,
-- FOR NO KEY UPDATE in a publish; 011, 017, 018), as an advisory lock on the team's id instead, shared or exclusive,
-- taken in id order. The same waits on one PostgreSQL; on Citus a row lock on a reference table is a write to every
-- node (a two-phase commit, and pushes that deadlock on the table's shard lock), while an advisory lock stays on the
-- coordinator, where every statement of a server starts. Two teams whose ids agree modulo 2^31 - 1 share a lock:
-- they wait for each other, no more.
CREATE OR REPLACE FUNCTION lock_teams(p_team_ids bigint[], p_exclusive boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF p_exclusive THEN
        PERFORM pg_advisory_xact_lock(1952540020, (x.id % 2147483647)::integer)
        FROM (SELECT DISTINCT i.id FROM unnest(p_team_ids) AS i(id) WHERE i.id IS NOT NULL ORDER BY 1) x;
    ELSE
        PERFORM pg_advisory_xact_lock_shared(1952540020, (x.id % 2147483647)::integer)
        FROM (SELECT DISTINCT i.id FROM unnest(p_team_ids) AS i(id) WHERE i.id IS NOT NULL ORDER BY 1) x;
    END IF;
END
$$;

-- 018's first step, with no function called inside a statement on a learner's rows.
CREATE OR REPLACE FUNCTION learner_question_parts_before(p_user_id bigint, p_team_id bigint, p_question_ids text[])
RETURNS learner_question_part[]
LANGUAGE plpgsql
AS $$
DECLARE
    parts learner_question_part[];
BEGIN
    -- p_team_id is locked whether the learner is a member yet or not: on joining, a deck published at the same moment
    -- is either in the team's sums before the learner's part is added, or published after it.
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

ALTER FUNCTION learner_question_parts_before(bigint, bigint, text[]) SET plan_cache_mode = force_generic_plan;

CREATE OR REPLACE FUNCTION apply_learner_question_parts_whole(p_user_id bigint, p_team_id bigint, p_question_ids text[], p_before learner_question_part[])
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
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
END
$$;

-- Every member's parts of one team's deck (018's learner_question_parts for each member of p_team_id, of p_deck_id),
-- with user_id: a row per member, mode and question of the deck they answered; t their total on the deck in that mode.
CREATE FUNCTION team_deck_parts(p_team_id bigint, p_deck_id text)
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
        JOIN learner_question_stats s ON s.user_id = m.user_id
        JOIN deck_questions dq ON dq.question_id = s.question_id
        CROSS JOIN (VALUES (true), (false)) AS f(first_only)
        WHERE m.team_id = p_team_id AND m.role = 'member' AND dq.deck_id = p_deck_id
    ) a;
END
$$;

-- A deck's sums from scratch (018), over the team's members at once rather than a function call per member, whose
-- statements Citus cannot plan with the member's id as a parameter. The same numbers: each member's part of each
-- question of the deck they answered, in both modes, with t their total on the deck.
CREATE OR REPLACE FUNCTION rebuild_team_question_sums(p_team_id bigint, p_deck_id text)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    sums jsonb;
BEGIN
    DELETE FROM team_question_sums WHERE team_id = p_team_id AND deck_id = p_deck_id;
    DELETE FROM team_question_sum_moves WHERE team_id = p_team_id AND deck_id = p_deck_id;
    DELETE FROM learner_deck_totals WHERE team_id = p_team_id AND deck_id = p_deck_id;
    INSERT INTO learner_deck_totals (user_id, team_id, deck_id, first_only, t, t_summed)
    SELECT p.user_id, p_team_id, p_deck_id, p.first_only, p.t, p.t FROM team_deck_parts(p_team_id, p_deck_id) p GROUP BY 1, 2, 3, 4, 5;
    -- The members' sums first, on their own (see team_question_sums_current).
    SELECT jsonb_agg(s) INTO sums FROM (
        SELECT p.first_only, p.question_id, count(*) AS learners, sum(p.attempts) AS attempts, sum(p.correct) AS correct,
               sum(p.x) AS sum_x, sum(p.x * p.x) AS sum_xx, sum(p.t) AS sum_t, sum(p.t * p.t) AS sum_tt, sum(p.x * p.t) AS sum_xt,
               ARRAY[sum(p.chosen[1]), sum(p.chosen[2]), sum(p.chosen[3]), sum(p.chosen[4]), sum(p.chosen[5]),
                     sum(p.chosen[6]), sum(p.chosen[7]), sum(p.chosen[8]), sum(p.chosen[9]), sum(p.chosen[10])]::bigint[] AS option_chosen,
               duration_histogram(array_agg(p.bucket)) AS duration_histogram
        FROM team_deck_parts(p_team_id, p_deck_id) p GROUP BY p.first_only, p.question_id
    ) s;
    INSERT INTO team_question_sums (team_id, deck_id, first_only, question_id, learners, attempts, correct, sum_x, sum_xx, sum_t, sum_tt, sum_xt,
                                    option_chosen, duration_histogram)
    SELECT p_team_id, p_deck_id, f.first_only, dq.question_id, coalesce(s.learners, 0), coalesce(s.attempts, 0), coalesce(s.correct, 0),
           coalesce(s.sum_x, 0), coalesce(s.sum_xx, 0), coalesce(s.sum_t, 0), coalesce(s.sum_tt, 0), coalesce(s.sum_xt, 0),
           coalesce(s.option_chosen, array_fill(0::bigint, ARRAY[10])), coalesce(s.duration_histogram, array_fill(0, ARRAY[1141]))
    FROM deck_questions dq
    CROSS JOIN (VALUES (true), (false)) AS f(first_only)
    LEFT JOIN jsonb_to_recordset(sums) AS s(first_only boolean, question_id text, learners bigint, attempts bigint, correct bigint, sum_x numeric,
                                            sum_xx numeric, sum_t numeric, sum_tt numeric, sum_xt numeric, option_chosen bigint[],
                                            duration_histogram integer[])
        ON s.question_id = dq.question_id AND s.first_only = f.first_only
    WHERE dq.deck_id = p_deck_id;
END
$$;

-- Learners with something to fold: moves appended, or a deck total moved since it was summed.
CREATE FUNCTION learners_to_fold(p_limit integer)
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
    ) u
    ORDER BY u.user_id LIMIT p_limit;
END
$$;

-- Folds what one learner's changes left for the sums, and says whether it did: false when another fold is running (one
-- at a time updates the sums rows, so two servers' folds never lock them in opposite orders) or a push of the learner
-- holds their lock (folded next time). It takes its locks in a push's order: the learner's lock, then their teams' (and
-- those of the teams of their moves, which a learner who left is no longer in), exclusively, so that a publish's
-- rebuild of a deck's sums, a report's read of them and the members' pushes wait for the fold's few milliseconds.
CREATE FUNCTION fold_learner_question_sums(p_user_id bigint)
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

-- 018's and 021's batch folds (one PostgreSQL), taking the teams' locks as lock_teams.
CREATE OR REPLACE FUNCTION fold_team_question_sum_moves(p_limit integer)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    team_ids bigint[];
    folded integer;
BEGIN
    SELECT array_agg(DISTINCT m.team_id) INTO team_ids FROM (SELECT m.team_id FROM team_question_sum_moves m LIMIT p_limit) m;
    IF team_ids IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM lock_teams(team_ids);
    WITH picked AS (
        SELECT m.ctid AS row_id FROM team_question_sum_moves m WHERE m.team_id = ANY (team_ids) LIMIT p_limit FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM team_question_sum_moves m USING picked p WHERE m.ctid = p.row_id RETURNING m.*
    ), added AS (
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
        FROM gone g GROUP BY 1, 2, 3, 4
    ), locked AS (
        SELECT s.team_id, s.deck_id, s.first_only, s.question_id FROM team_question_sums s
        JOIN added a USING (team_id, deck_id, first_only, question_id)
        ORDER BY s.team_id, s.deck_id, s.first_only, s.question_id
        FOR NO KEY UPDATE OF s
    ), summed AS (
        UPDATE team_question_sums s SET
            learners = s.learners + a.learners, attempts = s.attempts + a.attempts, correct = s.correct + a.correct,
            sum_x = s.sum_x + a.sum_x, sum_xx = s.sum_xx + a.sum_xx, sum_t = s.sum_t + a.sum_t, sum_tt = s.sum_tt + a.sum_tt,
            sum_xt = s.sum_xt + a.sum_xt,
            option_chosen = CASE WHEN a.options_moved THEN ARRAY(SELECT c + coalesce(d, 0) FROM unnest(s.option_chosen, a.option_moved) AS u(c, d))
                                 ELSE s.option_chosen END,
            duration_histogram = histogram_add(s.duration_histogram, a.buckets_taken, a.buckets_added)
        FROM added a
        WHERE (SELECT count(*) FROM locked) >= 0
          AND s.team_id = a.team_id AND s.deck_id = a.deck_id AND s.first_only = a.first_only AND s.question_id = a.question_id
    )
    SELECT count(*) INTO folded FROM gone;
    RETURN folded;
END
$$;

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

-- A push on Citus touches the learner's node alone (issue 21). Citus runs an INSERT … SELECT whose rows it cannot route
-- through the coordinator, and sends every CTE that such a SELECT reads to every node, which makes each node a party
-- to the push's commit. So the two statements of the push that wrote from CTEs over the learner's rows (019's board
-- activity, 021's deck totals and moves) are steps now: the learner's rows read by a query on their shard, staged in
-- a variable, and the rows to write computed from the variables alone. The same rows on one PostgreSQL.
CREATE OR REPLACE FUNCTION add_board_activity(p_user_id bigint, p_seq_above bigint, p_up_to bigint, p_zones text[])
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    v_fresh jsonb;
    v_before jsonb;
    v_days jsonb;
    v_weeks jsonb;
BEGIN
    -- The page's attempts counted by day (in each zone of the learner's teams) and question.
    SELECT coalesce(jsonb_agg(jsonb_build_object('time_zone', f.time_zone, 'day', f.day, 'question_id', f.question_id, 'attempts', f.attempts,
                                                 'correct_attempts', f.correct_attempts)), '[]')
    INTO v_fresh
    FROM (
        SELECT z.time_zone, team_day(z.time_zone, a.answered_at) AS day, a.question_id,
               count(*) AS attempts, count(*) FILTER (WHERE a.correct) AS correct_attempts
        FROM attempts a CROSS JOIN unnest(p_zones) AS z(time_zone)
        WHERE a.user_id = p_user_id AND a.seq > p_seq_above AND a.seq <= p_up_to AND a.flags = 0
        GROUP BY 1, 2, 3
    ) f;
    IF v_fresh = '[]'::jsonb THEN
        RETURN;
    END IF;
    -- What those days' questions held before: a question earns its day's point with the day's first correct attempt.
    SELECT coalesce(jsonb_agg(jsonb_build_object('time_zone', d.time_zone, 'day', d.day, 'question_id', d.question_id,
                                                 'correct_attempts', d.correct_attempts)), '[]')
    INTO v_before
    FROM daily_question_activity d
    WHERE d.user_id = p_user_id AND d.time_zone = ANY (p_zones)
      AND d.question_id = ANY (ARRAY(SELECT DISTINCT f.question_id FROM jsonb_to_recordset(v_fresh) AS f(question_id text)))
      AND d.day = ANY (ARRAY(SELECT DISTINCT f.day FROM jsonb_to_recordset(v_fresh) AS f(day date)));
    SELECT coalesce(jsonb_agg(jsonb_build_object('time_zone', x.time_zone, 'day', x.day, 'attempts', x.attempts,
                                                 'correct_attempts', x.correct_attempts, 'points', x.points)), '[]')
    INTO v_days
    FROM (
        SELECT f.time_zone, f.day, sum(f.attempts) AS attempts, sum(f.correct_attempts) AS correct_attempts,
               count(*) FILTER (WHERE f.correct_attempts > 0 AND coalesce(b.correct_attempts, 0) = 0) AS points
        FROM jsonb_to_recordset(v_fresh) AS f(time_zone text, day date, question_id text, attempts bigint, correct_attempts bigint)
        LEFT JOIN jsonb_to_recordset(v_before) AS b(time_zone text, day date, question_id text, correct_attempts bigint)
            USING (time_zone, day, question_id)
        GROUP BY f.time_zone, f.day
    ) x;
    SELECT coalesce(jsonb_agg(jsonb_build_object('time_zone', w.time_zone, 'week_start', w.week_start)), '[]')
    INTO v_weeks
    FROM (SELECT DISTINCT t.time_zone, t.week_start FROM memberships m JOIN teams t ON t.id = m.team_id
          WHERE m.user_id = p_user_id AND t.time_zone = ANY (p_zones)) w;

    INSERT INTO daily_question_activity AS d (user_id, time_zone, day, question_id, attempts, correct_attempts)
    SELECT p_user_id, f.time_zone, f.day, f.question_id, f.attempts, f.correct_attempts
    FROM jsonb_to_recordset(v_fresh) AS f(time_zone text, day date, question_id text, attempts bigint, correct_attempts bigint)
    ON CONFLICT (user_id, time_zone, day, question_id) DO UPDATE
        SET attempts = d.attempts + excluded.attempts, correct_attempts = d.correct_attempts + excluded.correct_attempts;
    INSERT INTO weekly_activity AS s (user_id, time_zone, week_start, week, attempts, correct_attempts, points)
    SELECT p_user_id, d.time_zone, w.week_start, week_of(d.day, w.week_start), sum(d.attempts), sum(d.correct_attempts), sum(d.points)
    FROM jsonb_to_recordset(v_days) AS d(time_zone text, day date, attempts bigint, correct_attempts bigint, points bigint)
    JOIN jsonb_to_recordset(v_weeks) AS w(time_zone text, week_start integer) USING (time_zone)
    GROUP BY 2, 3, 4
    ON CONFLICT (user_id, time_zone, week_start, week) DO UPDATE
        SET attempts = s.attempts + excluded.attempts, correct_attempts = s.correct_attempts + excluded.correct_attempts,
            points = s.points + excluded.points;
    INSERT INTO daily_activity AS s (user_id, time_zone, day, attempts, correct_attempts, points)
    SELECT p_user_id, d.time_zone, d.day, d.attempts, d.correct_attempts, d.points
    FROM jsonb_to_recordset(v_days) AS d(time_zone text, day date, attempts bigint, correct_attempts bigint, points bigint)
    ON CONFLICT (user_id, time_zone, day) DO UPDATE
        SET attempts = s.attempts + excluded.attempts, correct_attempts = s.correct_attempts + excluded.correct_attempts,
            points = s.points + excluded.points;
    INSERT INTO monthly_activity AS s (user_id, time_zone, month, attempts, correct_attempts, points)
    SELECT p_user_id, d.time_zone, date_trunc('month', d.day)::date, sum(d.attempts), sum(d.correct_attempts), sum(d.points)
    FROM jsonb_to_recordset(v_days) AS d(time_zone text, day date, attempts bigint, correct_attempts bigint, points bigint)
    GROUP BY 2, 3
    ON CONFLICT (user_id, time_zone, month) DO UPDATE
        SET attempts = s.attempts + excluded.attempts, correct_attempts = s.correct_attempts + excluded.correct_attempts,
            points = s.points + excluded.points;
    -- Totals and the latest run of consecutive days, from the learner's own days (a few hundred rows at most a year),
    -- read on their shard, then written.
    SELECT coalesce(jsonb_agg(jsonb_build_object('time_zone', x.time_zone, 'attempts', x.attempts, 'correct_attempts', x.correct_attempts,
                                                 'points', x.points, 'last_day', x.last_day, 'length', x.length)), '[]')
    INTO v_days
    FROM (
        WITH days AS (
            SELECT d.time_zone, d.day, d.attempts, d.correct_attempts, d.points,
                   d.day - (row_number() OVER (PARTITION BY d.time_zone ORDER BY d.day))::integer AS run
            FROM daily_activity d WHERE d.user_id = p_user_id AND d.time_zone = ANY (p_zones)
        ), latest AS (
            SELECT DISTINCT ON (time_zone) time_zone, max(day) AS last_day, count(*) AS length
            FROM days GROUP BY time_zone, run ORDER BY time_zone, max(day) DESC
        )
        SELECT d.time_zone, sum(d.attempts) AS attempts, sum(d.correct_attempts) AS correct_attempts, sum(d.points) AS points, l.last_day, l.length
        FROM days d JOIN latest l USING (time_zone)
        GROUP BY d.time_zone, l.last_day, l.length
    ) x;
    INSERT INTO activity_totals AS t (user_id, time_zone, attempts, correct_attempts, points, streak_last_day, streak_days)
    SELECT p_user_id, x.time_zone, x.attempts, x.correct_attempts, x.points, x.last_day, x.length
    FROM jsonb_to_recordset(v_days) AS x(time_zone text, attempts bigint, correct_attempts bigint, points bigint, last_day date, length integer)
    ON CONFLICT (user_id, time_zone) DO UPDATE
        SET attempts = excluded.attempts, correct_attempts = excluded.correct_attempts, points = excluded.points,
            streak_last_day = excluded.streak_last_day, streak_days = excluded.streak_days;
END
$$;

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
    -- Appended, never updated: members of one team pushing at once do not wait for one another's sums rows.
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
        FROM (SELECT n.team_id, n.deck_id, n.first_only, n.question_id, n.attempts, n.correct, n.x, s.t_summed AS t, n.chosen, n.bucket
              FROM unnest(v_now) n
              JOIN jsonb_to_recordset(v_totals) AS s(team_id bigint, deck_id text, first_only boolean, t numeric, t_summed numeric)
                  USING (team_id, deck_id, first_only)) n
        FULL JOIN unnest(p_before) b USING (team_id, deck_id, first_only, question_id)
    ) d
    WHERE d.learners <> 0 OR d.attempts <> 0 OR d.correct <> 0 OR d.x <> 0 OR d.xx <> 0 OR d.t <> 0 OR d.tt <> 0 OR d.xt <> 0
          OR d.chosen_before IS DISTINCT FROM d.chosen_now OR d.bucket_before IS DISTINCT FROM d.bucket_now;
END
$$;
-- Their statements planned once per session and kept, as before (019, 021); Citus plans them with the values known
-- (SQL/citus/distribute.sql).
ALTER FUNCTION add_board_activity(bigint, bigint, bigint, text[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION apply_learner_question_parts(bigint, bigint, text[], learner_question_part[]) SET plan_cache_mode = force_generic_plan;
