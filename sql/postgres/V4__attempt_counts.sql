-- Abuse-limit counts (failed logins, registrations) shared by every
-- replica: one row per key and slice of a sliding window. The key is a
-- SHA-256 digest of the limit's name and the email or client address.
-- UNLOGGED: the counts are worth no WAL; a crash or a failover only resets
-- the limits. Rows past `expires_at` no longer count and are swept by the
-- servers in the background.
CREATE UNLOGGED TABLE attempt_counts (
    key bytea NOT NULL,
    slice bigint NOT NULL,
    count integer NOT NULL CHECK (count >= 0),
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (key, slice)
);

CREATE INDEX attempt_counts_expires_at ON attempt_counts (expires_at);
