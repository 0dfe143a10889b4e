-- A member's push of a few answers no longer rewrites the question-report sums of the whole deck (issue 20: a sync of
-- 20 attempts took 19-36 ms at the median in a team of 1,000, against 4-5 ms for a board).
--
-- Until now each sums row (011) held Σt, Σt² and Σxt with t the learner's total on the deck as it is now. Any change
-- of one score changes t, so a push moved the Σt terms of every question the learner had answered: 200 questions, two
-- modes, 400 rows rewritten and about as many parts sent to the server and back, for 20 answers.
--
-- Now the sums hold each learner's Σt terms with `t_summed`, the total as it was when they were last summed, kept per
-- learner, team, deck and mode in `learner_deck_totals` beside `t`, the total now. A push moves only the rows of the
-- questions it answered (their x changes, with the learner's `t_summed`) and sets `t`. What the sums still lack, the
-- learners whose `t` moved since, is added when the report is read (`team_question_sums_current`: their rows of
-- `learner_question_stats` joined, a few per learner who studied lately) and folded into the sums later, a batch of
-- learners at a time, by `fold_learner_deck_totals` (the server does it in the background). The numbers stay exact:
-- every term is numeric, and x·t_summed + x·(t - t_summed) is x·t to the last digit.
--
-- Invariant: a member has a row per (team, deck, mode) of which they answered a question, and
--   team_question_sums = Σ over the learners' parts of (1, attempts, correct, x, x², t_summed, t_summed², x·t_summed, …).
CREATE TABLE learner_deck_totals (
    user_id bigint NOT NULL,
    team_id bigint NOT NULL,
    deck_id text NOT NULL,
    first_only boolean NOT NULL,
    -- Σx over the questions of the deck the learner answered (011's t), now.
    t numeric NOT NULL,
    -- The t that the team's sums hold for the learner.
    t_summed numeric NOT NULL,
    PRIMARY KEY (user_id, team_id, deck_id, first_only),
    FOREIGN KEY (team_id, deck_id) REFERENCES team_decks (team_id, deck_id) ON DELETE CASCADE
);

-- The learners whose total is not summed yet, per team, deck and mode: what a report adds and the fold looks for.
CREATE INDEX learner_deck_totals_unsummed ON learner_deck_totals (team_id, deck_id, first_only) WHERE t <> t_summed;

-- What changes of learners' parts add to the sums and the fold has not added yet, a row per change of one sums row.
-- A change appends here instead of updating the sums row, which every member answering the question would otherwise
-- update (and hold until their commit): a class answering the same questions would push one at a time. A report adds
-- these rows to the sums (`team_question_sums_current`); `fold_team_question_sum_moves` moves them into the sums.
CREATE TABLE team_question_sum_moves (
    team_id bigint NOT NULL,
    deck_id text NOT NULL,
    first_only boolean NOT NULL,
    question_id text NOT NULL,
    learners bigint NOT NULL,
    attempts bigint NOT NULL,
    correct bigint NOT NULL,
    sum_x numeric NOT NULL,
    sum_xx numeric NOT NULL,
    sum_t numeric NOT NULL,
    sum_tt numeric NOT NULL,
    sum_xt numeric NOT NULL,
    -- Per option, the change of how often it was chosen (NULL: none).
    option_moved bigint[],
    -- A learner's time moved out of the bucket bucket_taken and into bucket_added (either NULL: none).
    bucket_taken integer,
    bucket_added integer
);
CREATE INDEX team_question_sum_moves_by_deck ON team_question_sum_moves (team_id, deck_id, first_only);

-- A histogram with one learner taken out of each bucket of `taken` and one added to each of `added`. PL/pgSQL changes
-- the elements in place, where 011's histogram_move copies the 1,141 of them twice per learner.
CREATE FUNCTION histogram_add(histogram integer[], taken integer[], added integer[]) RETURNS integer[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    b integer;
BEGIN
    FOREACH b IN ARRAY coalesce(taken, '{}') LOOP
        histogram[b + 1] := histogram[b + 1] - 1;
    END LOOP;
    FOREACH b IN ARRAY coalesce(added, '{}') LOOP
        histogram[b + 1] := histogram[b + 1] + 1;
    END LOOP;
    RETURN histogram;
END
$$;

-- The moves of the sums rows of one team's deck and mode (every team, deck and mode when NULL), added up per row.
CREATE FUNCTION team_question_sum_moves_added(p_team_id bigint, p_deck_id text, p_first_only boolean)
RETURNS TABLE (team_id bigint, deck_id text, first_only boolean, question_id text, learners bigint, attempts bigint, correct bigint,
               sum_x numeric, sum_xx numeric, sum_t numeric, sum_tt numeric, sum_xt numeric, option_moved bigint[], buckets_taken integer[],
               buckets_added integer[])
LANGUAGE sql STABLE
AS $$
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
    GROUP BY m.team_id, m.deck_id, m.first_only, m.question_id
$$;

-- One learner's parts of the questions p_question_ids (every question when NULL) of the decks published to their teams
-- (or p_team_id only), with t their total on the deck now. Only the parts asked for are built (a push asks for the
-- questions it answered); the total is still a sum over the whole deck, read without the options and times.
CREATE OR REPLACE FUNCTION learner_question_parts(p_user_id bigint, p_team_id bigint, p_question_ids text[])
RETURNS SETOF learner_question_part
LANGUAGE sql STABLE
AS $$
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
    WHERE p_question_ids IS NULL OR a.question_id = ANY (p_question_ids)
$$;

-- Every member's totals as the sums hold them now (011 and 017 summed the totals of the moment).
INSERT INTO learner_deck_totals (user_id, team_id, deck_id, first_only, t, t_summed)
SELECT DISTINCT m.user_id, p.team_id, p.deck_id, p.first_only, p.t, p.t
FROM memberships m, learner_question_parts(m.user_id, m.team_id, NULL) p
WHERE m.role = 'member';

-- The decks of the learner's teams (or p_team_id) that hold one of p_question_ids (any deck when NULL).
CREATE FUNCTION learner_decks_concerned(p_user_id bigint, p_team_id bigint, p_question_ids text[])
RETURNS TABLE (team_id bigint, deck_id text, first_only boolean, t_summed numeric)
LANGUAGE sql STABLE
AS $$
    SELECT l.team_id, l.deck_id, l.first_only, l.t_summed FROM learner_deck_totals l
    WHERE l.user_id = p_user_id AND (p_team_id IS NULL OR l.team_id = p_team_id)
      AND (p_question_ids IS NULL OR EXISTS (
              SELECT 1 FROM deck_questions dq WHERE dq.deck_id = l.deck_id AND dq.question_id = ANY (p_question_ids)))
$$;

-- The parts of one learner's answers to p_question_ids in the decks published to their teams, without the deck total
-- (t NULL): what a push reads, a few rows of `learner_question_stats`, where `learner_question_parts` also reads every
-- answered question of the deck for the total.
CREATE FUNCTION learner_question_parts_of(p_user_id bigint, p_question_ids text[])
RETURNS SETOF learner_question_part
LANGUAGE sql STABLE
AS $$
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
    WHERE m.user_id = p_user_id AND m.role = 'member'
$$;

-- The first step of a change of a learner's parts (011, 017): the teams FOR SHARE, then the learner's totals in the
-- decks concerned FOR UPDATE, in key order (a fold of them waits for this change to commit, and this change for a
-- fold); the parts returned carry the total the sums hold for them. PL/pgSQL, so each connection plans it once.
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
    IF p_question_ids IS NULL OR p_team_id IS NOT NULL THEN
        PERFORM 1 FROM learner_deck_totals l
        WHERE (l.user_id, l.team_id, l.deck_id, l.first_only) IN (
            SELECT p_user_id, c.team_id, c.deck_id, c.first_only FROM learner_decks_concerned(p_user_id, p_team_id, p_question_ids) c)
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
    RETURN ARRAY(
        SELECT ROW(p.team_id, p.deck_id, p.first_only, p.question_id, p.attempts, p.correct, p.x, l.t_summed, p.chosen, p.bucket)::learner_question_part
        FROM learner_question_parts_of(p_user_id, p_question_ids) p
        LEFT JOIN learner_deck_totals l
            ON l.user_id = p_user_id AND l.team_id = p.team_id AND l.deck_id = p.deck_id AND l.first_only = p.first_only);
END
$$;

-- The second step of a change of every part (p_question_ids NULL: joining, leaving, a rebuild; or of one team's): the
-- learner's totals set to what they are now, and the sums rows moved by the difference between the parts now and
-- before, both with the total the sums hold for the learner, which is the total now when every part is summed again.
CREATE FUNCTION apply_learner_question_parts_whole(p_user_id bigint, p_team_id bigint, p_question_ids text[], p_before learner_question_part[])
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
    INSERT INTO team_question_sum_moves (team_id, deck_id, first_only, question_id, learners, attempts, correct, sum_x, sum_xx, sum_t,
                                         sum_tt, sum_xt, option_moved, bucket_taken, bucket_added)
    SELECT d.team_id, d.deck_id, d.first_only, d.question_id, d.learners, d.attempts, d.correct, d.x, d.xx, d.t, d.tt, d.xt,
           CASE WHEN d.chosen_before IS DISTINCT FROM d.chosen_now
                THEN ARRAY(SELECT coalesce(n, 0) - coalesce(b, 0) FROM unnest(d.chosen_now, d.chosen_before) AS u(n, b)) END,
           CASE WHEN d.bucket_before IS DISTINCT FROM d.bucket_now THEN d.bucket_before END,
           CASE WHEN d.bucket_before IS DISTINCT FROM d.bucket_now THEN d.bucket_now END
    FROM changed d;
$$;


-- The second step: the learner's totals set to what they are now, and the sums rows of the parts asked for moved by
-- the difference between the parts now and before, both with the total the sums hold for the learner. For a push
-- (p_question_ids given, answers only added) that total stays what it was, and the total now is the one held moved
-- by the change of the x of the questions answered: a push reads only their statistics. A deck the learner had not
-- answered in before gets its totals from the push alone (its questions answered now are all there are), summed as
-- they are.
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
    INSERT INTO team_question_sum_moves (team_id, deck_id, first_only, question_id, learners, attempts, correct, sum_x, sum_xx, sum_t,
                                         sum_tt, sum_xt, option_moved, bucket_taken, bucket_added)
    SELECT d.team_id, d.deck_id, d.first_only, d.question_id, d.learners, d.attempts, d.correct, d.x, d.xx, d.t, d.tt, d.xt,
           CASE WHEN d.chosen_before IS DISTINCT FROM d.chosen_now
                THEN ARRAY(SELECT coalesce(n, 0) - coalesce(b, 0) FROM unnest(d.chosen_now, d.chosen_before) AS u(n, b)) END,
           CASE WHEN d.bucket_before IS DISTINCT FROM d.bucket_now THEN d.bucket_before END,
           CASE WHEN d.bucket_before IS DISTINCT FROM d.bucket_now THEN d.bucket_now END
    FROM changed d;
END
$$;

-- A deck's sums from scratch (011), now with its members' totals summed as they are.
CREATE OR REPLACE FUNCTION rebuild_team_question_sums(p_team_id bigint, p_deck_id text)
RETURNS void
LANGUAGE sql
AS $$
    DELETE FROM team_question_sums WHERE team_id = p_team_id AND deck_id = p_deck_id;
    DELETE FROM team_question_sum_moves WHERE team_id = p_team_id AND deck_id = p_deck_id;
    DELETE FROM learner_deck_totals WHERE team_id = p_team_id AND deck_id = p_deck_id;
    WITH parts AS (
        SELECT m.user_id, p.* FROM memberships m, learner_question_parts(m.user_id, p_team_id, NULL) p
        WHERE m.team_id = p_team_id AND m.role = 'member' AND p.deck_id = p_deck_id
    ), totals AS (
        INSERT INTO learner_deck_totals (user_id, team_id, deck_id, first_only, t, t_summed)
        SELECT DISTINCT p.user_id, p_team_id, p_deck_id, p.first_only, p.t, p.t FROM parts p
    ), sums AS (
        SELECT p.first_only, p.question_id, count(*) AS learners, sum(p.attempts) AS attempts, sum(p.correct) AS correct,
               sum(p.x) AS sum_x, sum(p.x * p.x) AS sum_xx, sum(p.t) AS sum_t, sum(p.t * p.t) AS sum_tt, sum(p.x * p.t) AS sum_xt,
               ARRAY[sum(p.chosen[1]), sum(p.chosen[2]), sum(p.chosen[3]), sum(p.chosen[4]), sum(p.chosen[5]),
                     sum(p.chosen[6]), sum(p.chosen[7]), sum(p.chosen[8]), sum(p.chosen[9]), sum(p.chosen[10])]::bigint[] AS option_chosen,
               duration_histogram(array_agg(p.bucket)) AS duration_histogram
        FROM parts p GROUP BY p.first_only, p.question_id
    )
    INSERT INTO team_question_sums (team_id, deck_id, first_only, question_id, learners, attempts, correct, sum_x, sum_xx, sum_t, sum_tt, sum_xt,
                                    option_chosen, duration_histogram)
    SELECT p_team_id, p_deck_id, f.first_only, dq.question_id, coalesce(s.learners, 0), coalesce(s.attempts, 0), coalesce(s.correct, 0),
           coalesce(s.sum_x, 0), coalesce(s.sum_xx, 0), coalesce(s.sum_t, 0), coalesce(s.sum_tt, 0), coalesce(s.sum_xt, 0),
           coalesce(s.option_chosen, array_fill(0::bigint, ARRAY[10])), coalesce(s.duration_histogram, array_fill(0, ARRAY[1141]))
    FROM deck_questions dq
    CROSS JOIN (VALUES (true), (false)) AS f(first_only)
    LEFT JOIN sums s ON s.question_id = dq.question_id AND s.first_only = f.first_only
    WHERE dq.deck_id = p_deck_id;
$$;

-- A deck's sums of one mode as a report reads them: the rows kept, plus the Σt terms of the learners whose total moved
-- since it was summed (each such learner's answered questions of the deck, read from their statistics).
CREATE FUNCTION team_question_sums_current(p_team_id bigint, p_deck_id text, p_first_only boolean)
RETURNS SETOF team_question_sums
LANGUAGE sql STABLE
AS $$
    WITH unsummed AS (
        SELECT l.user_id, l.t - l.t_summed AS dt, l.t * l.t - l.t_summed * l.t_summed AS dtt
        FROM learner_deck_totals l
        WHERE l.team_id = p_team_id AND l.deck_id = p_deck_id AND l.first_only = p_first_only AND l.t <> l.t_summed
    ), moves AS (
        SELECT q.question_id, sum(u.dt) AS t, sum(u.dtt) AS tt,
               sum(CASE WHEN p_first_only THEN q.first_correct::integer::numeric ELSE q.correct_attempts::numeric / q.attempts END * u.dt) AS xt
        FROM unsummed u
        JOIN learner_question_stats q ON q.user_id = u.user_id
        JOIN deck_questions dq ON dq.deck_id = p_deck_id AND dq.question_id = q.question_id
        GROUP BY q.question_id
    )
    SELECT s.team_id, s.deck_id, s.first_only, s.question_id, s.learners + coalesce(a.learners, 0), s.attempts + coalesce(a.attempts, 0),
           s.correct + coalesce(a.correct, 0), s.sum_x + coalesce(a.sum_x, 0), s.sum_xx + coalesce(a.sum_xx, 0),
           s.sum_t + coalesce(a.sum_t, 0) + coalesce(m.t, 0), s.sum_tt + coalesce(a.sum_tt, 0) + coalesce(m.tt, 0),
           s.sum_xt + coalesce(a.sum_xt, 0) + coalesce(m.xt, 0),
           CASE WHEN a.option_moved IS NULL THEN s.option_chosen
                ELSE ARRAY(SELECT c + coalesce(d, 0) FROM unnest(s.option_chosen, a.option_moved) AS u(c, d)) END,
           histogram_add(s.duration_histogram, a.buckets_taken, a.buckets_added)
    FROM team_question_sums s
    LEFT JOIN moves m ON m.question_id = s.question_id
    LEFT JOIN team_question_sum_moves_added(p_team_id, p_deck_id, p_first_only) a ON a.question_id = s.question_id
    WHERE s.team_id = p_team_id AND s.deck_id = p_deck_id AND s.first_only = p_first_only
$$;

-- Adds up to p_limit moves to the sums and deletes them; says how many. It takes the teams of the moves FOR SHARE
-- first (as a push does; a publish's rebuild and the fold wait for each other), then the moves, skipping those another
-- fold holds, then the sums rows in key order: several servers may fold at once.
CREATE FUNCTION fold_team_question_sum_moves(p_limit integer)
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
    PERFORM 1 FROM teams t WHERE t.id = ANY (team_ids) ORDER BY t.id FOR SHARE;
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

-- 011's report, reading the sums as they are now.
CREATE OR REPLACE FUNCTION team_question_sums_report(p_team_id bigint, p_deck_id text, p_first_only boolean)
RETURNS TABLE (team_id bigint, deck_id text, question_position integer, question_id text, learners bigint, attempts bigint,
               facility double precision, discrimination double precision, option_chosen bigint[], correct_options smallint[],
               duration_histogram integer[])
LANGUAGE sql STABLE
AS $$
    SELECT p_team_id, p_deck_id, dq.position, dq.question_id, coalesce(s.learners, 0), coalesce(s.attempts, 0),
           CASE WHEN s.attempts > 0 THEN s.correct::double precision / s.attempts END,
           CASE WHEN s.learners >= 2 AND c.var_x > 0 AND c.var_y > 0 THEN (c.cov / sqrt(c.var_x * c.var_y))::double precision END,
           (coalesce(s.option_chosen, array_fill(0::bigint, ARRAY[10])))[1:cardinality(v.options)], v.correct,
           s.duration_histogram
    FROM deck_questions dq
    JOIN question_versions v ON v.question_id = dq.question_id AND v.version = dq.version
    LEFT JOIN team_question_sums_current(p_team_id, p_deck_id, p_first_only) s ON s.question_id = dq.question_id
    -- With y = t - x: Σy = Σt - Σx, Σy² = Σt² - 2Σxt + Σx², Σxy = Σxt - Σx².
    LEFT JOIN LATERAL (
        SELECT s.learners * s.sum_xx - s.sum_x * s.sum_x AS var_x,
               s.learners * (s.sum_tt - 2 * s.sum_xt + s.sum_xx) - (s.sum_t - s.sum_x) * (s.sum_t - s.sum_x) AS var_y,
               s.learners * (s.sum_xt - s.sum_xx) - s.sum_x * (s.sum_t - s.sum_x) AS cov
    ) c ON true
    WHERE dq.deck_id = p_deck_id
    ORDER BY dq.position
$$;

-- Folds the totals of up to p_limit learners whose total moved into their teams' sums, and says how many learners it
-- folded. It takes what a push takes, in the same order (the learners' rows, their teams FOR SHARE, the sums rows in
-- key order), skipping any learner whose row another transaction holds (a push of theirs: folded next time); so it
-- neither deadlocks with a push, a membership change or a publish nor makes them wait for long.
CREATE FUNCTION fold_learner_deck_totals(p_limit integer)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    picked_ids bigint[];
BEGIN
    SELECT array_agg(u.id ORDER BY u.id) INTO picked_ids FROM (
        SELECT u.id FROM users u
        WHERE u.id IN (SELECT l.user_id FROM learner_deck_totals l WHERE l.t <> l.t_summed LIMIT p_limit * 4)
        ORDER BY u.id LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ) u;
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
