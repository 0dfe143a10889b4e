-- Failed logins and registrations per username and per client address, in a sliding window, shared by every server
-- on the database: five failures for a username are five in total, however many replicas they were spread over.
-- Unlogged: a crash empties it, which forgives a few failures; it costs no WAL on the login path.
CREATE UNLOGGED TABLE login_failures (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key text NOT NULL CHECK (length(key) <= 200),
    at bigint NOT NULL
);
CREATE INDEX login_failures_by_key ON login_failures (key, at);
CREATE INDEX login_failures_by_time ON login_failures (at);
