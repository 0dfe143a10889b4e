-- The question report from running sums (issue 5's bar: a 200-question deck in a team of 1,000 under 250 ms). Until
-- now the report aggregated every (learner, question) row of the team at each call; now each (team, deck, mode,
-- question) keeps the sums the report is made of, updated as a learner's statistics change, so a report reads one
-- row per question. The definitions are those of migration 010, with one change: the median time is taken over times
-- rounded down to 0.1 s below a minute and to 1 s below ten minutes; ten minutes and more count as ten minutes.

-- The time buckets of the median (0-based): 0-599 by 100 ms, 600-1139 by 1 s from one minute, 1140 for ten minutes
-- and more.
CREATE FUNCTION duration_bucket(ms double precision) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN ms < 60000 THEN floor(greatest(ms, 0) / 100)::integer
            WHEN ms < 600000 THEN 600 + floor((ms - 60000) / 1000)::integer
            ELSE 1140 END;

-- The time a bucket stands for: its lower bound.
CREATE FUNCTION duration_bucket_floor(bucket integer) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN bucket < 600 THEN bucket * 100 ELSE 60000 + (bucket - 600) * 1000 END;

-- The median (as percentile_cont(0.5)) of the times counted in a histogram: histogram[b + 1] learners in bucket b.
CREATE FUNCTION duration_histogram_median(histogram integer[]) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    WITH buckets AS (
        SELECT k::integer - 1 AS bucket, sum(c) OVER (ORDER BY k) AS up_to FROM unnest(histogram) WITH ORDINALITY AS h(c, k) WHERE c > 0
    ), total AS (
        SELECT max(up_to) AS n FROM buckets
    )
    -- The values at the 0-based positions floor((n - 1) / 2) and ceil((n - 1) / 2), averaged.
    SELECT ((SELECT duration_bucket_floor(min(bucket)) FROM buckets WHERE up_to > (n - 1) / 2)
          + (SELECT duration_bucket_floor(min(bucket)) FROM buckets WHERE up_to > n / 2)) / 2
    FROM total WHERE n > 0
$$;

-- histogram with `delta` added at 1-based position `k`.
CREATE FUNCTION array_add_at(histogram integer[], k integer, delta integer) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN histogram[1:k - 1] || (histogram[k] + delta) || histogram[k + 1:];

-- Per team, deck published to it, mode (first attempts only, or all) and question of the deck, over the team's members
-- (role member) who answered the question: n learners; the counted attempts and the correct ones; Σx, Σx², Σt, Σt²,
-- Σxt, where x is the learner's score on the question (first attempt right: 1 or 0; all: their share correct) and t
-- their total score on the deck (so the rest-score is t - x); how often each option was chosen; the learners' times.
CREATE TABLE team_question_sums (
    team_id bigint NOT NULL,
    deck_id text NOT NULL,
    first_only boolean NOT NULL,
    question_id text NOT NULL,
    learners bigint NOT NULL DEFAULT 0,
    attempts bigint NOT NULL DEFAULT 0,
    correct bigint NOT NULL DEFAULT 0,
    -- numeric, so that taking a learner's part out leaves exactly what was there before it was added.
    sum_x numeric NOT NULL DEFAULT 0,
    sum_xx numeric NOT NULL DEFAULT 0,
    sum_t numeric NOT NULL DEFAULT 0,
    sum_tt numeric NOT NULL DEFAULT 0,
    sum_xt numeric NOT NULL DEFAULT 0,
    option_chosen bigint[] NOT NULL DEFAULT array_fill(0::bigint, ARRAY[10]),
    duration_histogram integer[] NOT NULL DEFAULT array_fill(0, ARRAY[1141]),
    PRIMARY KEY (team_id, deck_id, first_only, question_id),
    FOREIGN KEY (team_id, deck_id) REFERENCES team_decks (team_id, deck_id) ON DELETE CASCADE
);

-- histogram with one learner moved from bucket `from_bucket` to `to_bucket` (NULL: none).
CREATE FUNCTION histogram_move(histogram integer[], from_bucket integer, to_bucket integer) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN from_bucket IS NULL THEN array_add_at(histogram, to_bucket + 1, 1)
            WHEN to_bucket IS NULL THEN array_add_at(histogram, from_bucket + 1, -1)
            ELSE array_add_at(array_add_at(histogram, from_bucket + 1, -1), to_bucket + 1, 1) END;

-- One learner's part of the sums of one (team, deck, mode, question).
CREATE TYPE learner_question_part AS (
    team_id bigint, deck_id text, first_only boolean, question_id text, attempts bigint, correct bigint, x numeric, t numeric,
    chosen bigint[], bucket integer
);

-- One learner's parts: for each deck published to their teams (or only p_team_id) with a question among p_question_ids
-- (all decks when NULL), a row per mode and per question of the deck they answered.
CREATE FUNCTION learner_question_parts(p_user_id bigint, p_team_id bigint, p_question_ids text[])
RETURNS SETOF learner_question_part
LANGUAGE sql STABLE
AS $$
    WITH decks AS (
        SELECT td.team_id, td.deck_id FROM memberships m JOIN team_decks td ON td.team_id = m.team_id
        WHERE m.user_id = p_user_id AND m.role = 'member' AND (p_team_id IS NULL OR m.team_id = p_team_id)
          AND (p_question_ids IS NULL OR EXISTS (
                  SELECT 1 FROM deck_questions dq WHERE dq.deck_id = td.deck_id AND dq.question_id = ANY (p_question_ids)))
    ), scores AS (
        SELECT d.team_id, d.deck_id, f.first_only, s.question_id,
               CASE WHEN f.first_only THEN 1 ELSE s.attempts END::bigint AS attempts,
               CASE WHEN f.first_only THEN s.first_correct::integer ELSE s.correct_attempts END::bigint AS correct,
               CASE WHEN f.first_only THEN s.first_correct::integer::numeric ELSE s.correct_attempts::numeric / s.attempts END AS x,
               CASE WHEN f.first_only THEN ARRAY(SELECT (k = ANY (s.first_chosen))::integer::bigint FROM generate_series(0, 9) k)
                    ELSE s.option_counts::bigint[] END AS chosen,
               duration_bucket(CASE WHEN f.first_only THEN s.first_duration_ms ELSE s.duration_ms_sum::double precision / s.attempts END) AS bucket
        FROM decks d
        JOIN deck_questions dq ON dq.deck_id = d.deck_id
        JOIN learner_question_stats s ON s.user_id = p_user_id AND s.question_id = dq.question_id
        CROSS JOIN (VALUES (true), (false)) AS f(first_only)
    )
    SELECT s.team_id, s.deck_id, s.first_only, s.question_id, s.attempts, s.correct, s.x,
           sum(s.x) OVER (PARTITION BY s.team_id, s.deck_id, s.first_only), s.chosen, s.bucket
    FROM scores s
$$;

-- A change of one learner's parts, in two steps around the change of their statistics or memberships (the caller holds
-- the learner's row lock, as a push does): `learner_question_parts_before` locks the teams concerned (in id order,
-- after the user: no deadlock with a push or a publish; held to the commit, so a team's sums change one learner at a
-- time) and returns the parts as they are; `apply_learner_question_parts`, given them back, adds the difference between
-- the parts now and then. Only the rows that change are written.
CREATE FUNCTION learner_question_parts_before(p_user_id bigint, p_team_id bigint, p_question_ids text[])
RETURNS learner_question_part[]
LANGUAGE plpgsql
AS $$
BEGIN
    -- p_team_id is locked whether the learner is a member yet or not: on joining, a deck published at the same moment
    -- is either in the team's sums before the learner's part is added, or published after it.
    PERFORM 1 FROM teams t
    WHERE CASE WHEN p_team_id IS NULL THEN t.id IN (SELECT m.team_id FROM memberships m WHERE m.user_id = p_user_id AND m.role = 'member')
               ELSE t.id = p_team_id END
    ORDER BY t.id FOR NO KEY UPDATE;
    RETURN ARRAY(SELECT p FROM learner_question_parts(p_user_id, p_team_id, p_question_ids) p);
END
$$;

CREATE FUNCTION apply_learner_question_parts(p_user_id bigint, p_team_id bigint, p_question_ids text[], p_before learner_question_part[])
RETURNS void
LANGUAGE sql
AS $$
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
        FROM learner_question_parts(p_user_id, p_team_id, p_question_ids) n
        FULL JOIN unnest(p_before) b USING (team_id, deck_id, first_only, question_id)
    ) d
    WHERE s.team_id = d.team_id AND s.deck_id = d.deck_id AND s.first_only = d.first_only AND s.question_id = d.question_id
      AND (d.learners <> 0 OR d.attempts <> 0 OR d.correct <> 0 OR d.x <> 0 OR d.xx <> 0 OR d.t <> 0 OR d.tt <> 0 OR d.xt <> 0
           OR d.chosen_before IS DISTINCT FROM d.chosen_now OR d.bucket_before IS DISTINCT FROM d.bucket_now);
$$;

-- The histogram of a list of buckets.
CREATE FUNCTION duration_histogram(buckets integer[]) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT array_agg(coalesce(c.n, 0)::integer ORDER BY k)
    FROM generate_series(0, 1140) k
    LEFT JOIN (SELECT b, count(*) AS n FROM unnest(buckets) b GROUP BY b) c ON c.b = k
$$;

-- The sums of one deck of a team, from scratch: a row per mode and question of the deck, whether answered or not (so
-- that `apply_learner_question_parts` only updates). Called when the deck is published to the team, the caller holding
-- the team's row lock.
CREATE FUNCTION rebuild_team_question_sums(p_team_id bigint, p_deck_id text)
RETURNS void
LANGUAGE sql
AS $$
    DELETE FROM team_question_sums WHERE team_id = p_team_id AND deck_id = p_deck_id;
    WITH parts AS (
        SELECT p.* FROM memberships m, learner_question_parts(m.user_id, p_team_id, NULL) p
        WHERE m.team_id = p_team_id AND m.role = 'member' AND p.deck_id = p_deck_id
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

SELECT count(rebuild_team_question_sums(team_id, deck_id)) AS team_decks_summed FROM team_decks;

-- The report's numbers for one deck of a team, from the sums: facility, discrimination (the Pearson correlation of x
-- with the rest-score t - x, NULL below two learners or without spread), option counts, and the times' histogram.
CREATE FUNCTION team_question_sums_report(p_team_id bigint, p_deck_id text, p_first_only boolean)
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
    LEFT JOIN team_question_sums s ON s.team_id = p_team_id AND s.deck_id = p_deck_id AND s.first_only = p_first_only AND s.question_id = dq.question_id
    -- With y = t - x: Σy = Σt - Σx, Σy² = Σt² - 2Σxt + Σx², Σxy = Σxt - Σx².
    LEFT JOIN LATERAL (
        SELECT s.learners * s.sum_xx - s.sum_x * s.sum_x AS var_x,
               s.learners * (s.sum_tt - 2 * s.sum_xt + s.sum_xx) - (s.sum_t - s.sum_x) * (s.sum_t - s.sum_x) AS var_y,
               s.learners * (s.sum_xt - s.sum_xx) - s.sum_x * (s.sum_t - s.sum_x) AS cov
    ) c ON true
    WHERE dq.deck_id = p_deck_id
    ORDER BY dq.position
$$;

-- The report of migration 010, same columns, now read from the sums.
DROP VIEW team_question_report_first;
DROP VIEW team_question_report_all;
DROP FUNCTION team_question_report(bigint, text, boolean);

CREATE FUNCTION team_question_report(p_team_id bigint, p_deck_id text, first_only boolean)
RETURNS TABLE (team_id bigint, deck_id text, question_position integer, question_id text, learners bigint, attempts bigint,
               facility double precision, discrimination double precision, option_chosen bigint[], correct_options smallint[],
               median_duration_ms double precision)
LANGUAGE sql STABLE
AS $$
    SELECT r.team_id, r.deck_id, r.question_position, r.question_id, r.learners, r.attempts, r.facility, r.discrimination, r.option_chosen,
           r.correct_options, duration_histogram_median(r.duration_histogram)
    FROM team_question_sums_report(p_team_id, p_deck_id, first_only) r
$$;

CREATE VIEW team_question_report_first AS
SELECT r.* FROM team_decks td, team_question_report(td.team_id, td.deck_id, true) r;

CREATE VIEW team_question_report_all AS
SELECT r.* FROM team_decks td, team_question_report(td.team_id, td.deck_id, false) r;
