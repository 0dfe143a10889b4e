-- On a database with the citus extension, after the numbered migrations: the tables distributed by learner (issue 21,
-- SCALING.md). The migration runner runs this after every run; it distributes what is not distributed yet and changes
-- nothing else, so a table that a later migration adds is placed on the next start.
--
-- By learner (user_id), co-located with `attempts`: everything a push writes (attempts, the sequence counter, progress,
-- sessions, statistics, board aggregates, the moves of the question-report sums), so that a push is a transaction on
-- one shard, and the learner's devices and tokens (a token carries its learner's id, so that it is looked up on the
-- learner's shard; SQL/025). On every node (reference tables): what every push reads and few requests write
-- (accounts, the dashboard's sign-ins, teams and memberships, decks and questions, invites) and the teams'
-- question-report sums, which only the background fold writes. By attempt id: attempt_owners, which exists on Citus
-- only (who owns each id). On the coordinator alone: schema_migrations and login_failures (unlogged).
--
-- A table counts as placed when it is distributed or a reference table. Citus makes a local table with a foreign key to
-- a reference table a "Citus local table" of its own accord; that is not placed yet, and is placed here.
CREATE OR REPLACE FUNCTION pg_temp.placed(t text) RETURNS boolean LANGUAGE sql AS $$
    SELECT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = t::regclass AND (p.partmethod = 'h' OR p.repmodel = 't'))
$$;

DO $distribute$
DECLARE
    t text;
BEGIN
    -- Citus keeps a unique index only when it holds the distribution column: an attempt id is unique per learner
    -- here, and the push looks ids up among other learners' before storing (PostgresStore, "foreign ids").
    IF NOT pg_temp.placed('attempts') THEN
        DROP INDEX IF EXISTS attempts_id;
        CREATE UNIQUE INDEX IF NOT EXISTS attempts_user_id_id ON attempts (user_id, id);
        CREATE INDEX IF NOT EXISTS attempts_by_id ON attempts (id);
    END IF;
    -- A shard move (citus_rebalance_start) copies by logical replication, which identifies a changed row by its key:
    -- the moves have none, so by all their columns.
    IF (SELECT relreplident FROM pg_class WHERE oid = 'team_question_sum_moves'::regclass) <> 'f' THEN
        ALTER TABLE team_question_sum_moves REPLICA IDENTITY FULL;
    END IF;
    IF NOT pg_temp.placed('study_sessions') THEN
        ALTER TABLE study_sessions DROP CONSTRAINT study_sessions_pkey;
        ALTER TABLE study_sessions ADD PRIMARY KEY (user_id, id);
    END IF;

    -- Devices and tokens were reference tables before SQL/025: brought back to local tables (their foreign keys
    -- first, which undistribute_table would otherwise follow to every table that refers to users), then placed below
    -- as a new database places them.
    IF EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = 'devices'::regclass AND p.repmodel = 't') THEN
        ALTER TABLE auth_tokens DROP CONSTRAINT IF EXISTS auth_tokens_device;
        ALTER TABLE auth_tokens DROP CONSTRAINT IF EXISTS auth_tokens_user_id_fkey;
        ALTER TABLE devices DROP CONSTRAINT IF EXISTS devices_user_id_fkey;
        PERFORM undistribute_table('auth_tokens');
        PERFORM undistribute_table('devices');
    END IF;
    -- Keyed by the learner too: a device id of another learner is refused by the login's look-up
    -- (PostgresStore.registerDevice), a token is found by (learner, hash), and a token of the older form (no learner
    -- in it) by its hash on every shard.
    IF NOT pg_temp.placed('auth_tokens') THEN
        -- Its key to devices first, as devices' key changes below; put back once both are distributed (at the end):
        -- Citus distributes neither end of a key between local tables.
        ALTER TABLE auth_tokens DROP CONSTRAINT IF EXISTS auth_tokens_device;
        ALTER TABLE auth_tokens DROP CONSTRAINT IF EXISTS auth_tokens_pkey;
        ALTER TABLE auth_tokens ADD PRIMARY KEY (user_id, token_hash);
        CREATE INDEX IF NOT EXISTS auth_tokens_by_hash ON auth_tokens (token_hash);
    END IF;
    IF NOT pg_temp.placed('devices') THEN
        -- The primary key on (learner, id), which a shard move's logical replication needs as well.
        ALTER TABLE devices DROP CONSTRAINT IF EXISTS devices_user_id_id;
        ALTER TABLE devices DROP CONSTRAINT IF EXISTS devices_pkey;
        ALTER TABLE devices ADD PRIMARY KEY (user_id, id);
        CREATE INDEX IF NOT EXISTS devices_by_id ON devices (id);
    END IF;

    -- Referenced before referencing: a reference table's foreign keys point at reference tables.
    FOREACH t IN ARRAY ARRAY['users', 'teams', 'memberships', 'decks', 'question_versions', 'deck_questions', 'team_decks', 'invites',
                             'server_invites', 'team_question_sums', 'web_sessions'] LOOP
        IF NOT pg_temp.placed(t) THEN
            PERFORM create_reference_table(t);
        END IF;
    END LOOP;

    IF NOT pg_temp.placed('attempts') THEN
        PERFORM create_distributed_table('attempts', 'user_id');
    END IF;
    -- Who owns each attempt id, distributed by the id: on one PostgreSQL the unique index on attempts (id) refuses an
    -- id of another learner; here a push claims its ids first (PostgresStore.claim), one shard per id.
    IF to_regclass('attempt_owners') IS NULL THEN
        CREATE TABLE attempt_owners (id uuid PRIMARY KEY, user_id bigint NOT NULL);
        PERFORM create_distributed_table('attempt_owners', 'id', colocate_with => 'none');
        INSERT INTO attempt_owners (id, user_id) SELECT a.id, a.user_id FROM attempts a ON CONFLICT (id) DO NOTHING;
    END IF;
    FOREACH t IN ARRAY ARRAY['learner_counters', 'progress', 'study_sessions', 'learner_question_stats', 'daily_activity',
                             'daily_question_activity', 'weekly_activity', 'monthly_activity', 'activity_totals', 'learner_deck_totals',
                             'team_question_sum_moves', 'progress_rebuilds', 'devices', 'auth_tokens', 'question_parts_pending',
                             'learner_question_stats_summed'] LOOP
        IF NOT pg_temp.placed(t) THEN
            PERFORM create_distributed_table(t, 'user_id', colocate_with => 'attempts');
        END IF;
    END LOOP;
    -- The foreign keys an earlier placement took off (above), back.
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'devices_user_id_fkey' AND conrelid = 'devices'::regclass) THEN
        ALTER TABLE devices ADD CONSTRAINT devices_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'auth_tokens_user_id_fkey' AND conrelid = 'auth_tokens'::regclass) THEN
        ALTER TABLE auth_tokens ADD CONSTRAINT auth_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'auth_tokens_device' AND conrelid = 'auth_tokens'::regclass) THEN
        ALTER TABLE auth_tokens ADD CONSTRAINT auth_tokens_device FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, id)
            ON DELETE CASCADE;
    END IF;
END
$distribute$;

-- A push's board aggregates in 022's steps, each of which Citus sends to the learner's shard: one PostgreSQL writes them
-- in 019's two statements (028), whose CTEs Citus would send to every node.
CREATE OR REPLACE FUNCTION add_board_activity(p_user_id bigint, p_seq_above bigint, p_up_to bigint, p_zones text[])
RETURNS void
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan
AS $$
BEGIN
    PERFORM add_board_activity_in_steps(p_user_id, p_seq_above, p_up_to, p_zones);
END
$$;

-- The statements of the push's functions planned with the learner's id known: Citus then sends each to the learner's
-- shard. A generic plan (019, 021, 022: on one PostgreSQL it saves planning them on every call) leaves the id a
-- parameter, and Citus cannot plan a statement that writes through CTEs without it.
ALTER FUNCTION add_board_activity_in_steps(bigint, bigint, bigint, text[]) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION begin_team_push(bigint, bigint, bigint, text[]) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION learner_question_parts_before(bigint, bigint, text[]) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION apply_learner_question_parts(bigint, bigint, text[], learner_question_part[]) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION append_question_sum_moves(bigint, learner_question_part[], learner_question_part[]) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION apply_learner_question_parts_whole(bigint, bigint, text[], learner_question_part[]) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION learner_question_parts_summed(bigint, text[]) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION learner_question_parts_summed_of(bigint, text[]) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION learner_pending_questions(bigint) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION lock_learner_question_parts(bigint, text[]) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION fold_learner_pending_parts(bigint) SET plan_cache_mode = force_custom_plan;
-- The dashboard's weeks (029) and the learner report (032 keeps one plan for each on one PostgreSQL): the members'
-- shards queried with their ids known.
ALTER FUNCTION team_weeks(bigint, date) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION team_learner_report(bigint, bigint, bigint) SET plan_cache_mode = force_custom_plan;
-- The leaderboard (031 keeps one plan for each on one PostgreSQL): Citus plans their statements only with the arguments known.
ALTER FUNCTION team_leaderboard(bigint, date, date, date, bigint, boolean, integer) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION team_board(bigint, text, integer, bigint, bigint, boolean, integer) SET plan_cache_mode = force_custom_plan;

-- A push adds its attempts to the boards itself (029): a read adding what a fold has not added yet would read the
-- workers at more than one moment. A database restored from one PostgreSQL may hold marks whose attempts are not on
-- the boards yet: they are added first (the marks stay, for the question-report sums).
DO $boards$
DECLARE
    r record;
    v_zones text[];
BEGIN
    IF boards_follow_pushes() THEN
        RETURN;
    END IF;
    FOR r IN
        SELECT p.user_id, p.seq_above, c.attempt_seq FROM question_parts_pending p JOIN learner_counters c ON c.user_id = p.user_id
        ORDER BY p.user_id
    LOOP
        SELECT array_agg(DISTINCT t.time_zone ORDER BY t.time_zone) INTO v_zones
        FROM memberships m JOIN teams t ON t.id = m.team_id WHERE m.user_id = r.user_id;
        IF v_zones IS NOT NULL THEN
            PERFORM add_board_activity(r.user_id, r.seq_above, r.attempt_seq, v_zones);
        END IF;
    END LOOP;
END
$boards$;
CREATE OR REPLACE FUNCTION boards_follow_pushes() RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN true;

-- A deck's sums from scratch write a reference table and many shards of two distributed tables, then read shards of the
-- same co-location group joined with reference tables. In parallel mode Citus may write those shards over several
-- connections to one worker (more as a loaded worker answers slowly), and the read then fails ("cannot perform query
-- with placements that were modified over multiple connections", 25001). One connection per worker for the function's
-- statements: the documented remedy, and the function is an instructor's or an operator's, never a push.
ALTER FUNCTION rebuild_team_question_sums(bigint, text) SET citus.multi_shard_modify_mode = sequential;
