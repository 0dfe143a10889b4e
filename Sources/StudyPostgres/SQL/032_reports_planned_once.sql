-- The learner report and the dashboard's weeks keep one plan per connection, as the leaderboard does since 031. On the
-- scale benchmark's data (1,000 members, 1M attempts), the plans PostgreSQL made for each call's arguments, on every
-- connection's first five calls before it settled on one plan for any, were slow ones: the team's learner report
-- 650-850 ms a call against 90-100 ms with the plan it then keeps, one learner's report 2.7 against 0.8 ms, the
-- dashboard's twelve weeks 600-770 against 20-30 ms. An instructor opening the reports after the server started met
-- those first calls. On Citus, whose planner needs the arguments, both plan each call with them
-- (SQL/citus/distribute.sql).
ALTER FUNCTION team_learner_report(bigint, bigint, bigint) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION team_weeks(bigint, date) SET plan_cache_mode = force_generic_plan;
