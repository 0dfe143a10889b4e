-- The rule for time (PROTOCOL.md, "Time"): an attempt stamped more than the clock tolerance (5 minutes) ahead of the
-- server's clock when it arrived carries the `ahead` flag (32) beside `clockSkew` (8), and counts in no progress.
-- Attempts stored before the rule get the flag by the same test, and their learners' progress is folded again at the
-- next start of the server (`progress_rebuilds`, emptied as each learner is rebuilt).
UPDATE attempts SET flags = flags | 40 WHERE answered_at > received_at + 300000 AND flags & 32 = 0;

CREATE TABLE progress_rebuilds (user_id bigint PRIMARY KEY);
INSERT INTO progress_rebuilds (user_id) SELECT DISTINCT user_id FROM attempts WHERE flags & 32 <> 0;

-- Durations are bounded at a day (86,400,000 ms) where they are summed: a duration stored before the bound (up to
-- 2^63 - 1) made every later answer to its question fail with "bigint out of range".
UPDATE learner_question_stats
SET duration_ms_sum = LEAST(duration_ms_sum, attempts::bigint * 86400000), first_duration_ms = LEAST(first_duration_ms, 86400000)
WHERE duration_ms_sum > attempts::bigint * 86400000 OR first_duration_ms > 86400000;
