-- Tokens whose session was signed out: refused from then on, by every
-- replica, although their signature and expiry are still good. A row names
-- the token by the SHA-256 digest of its text (never the token itself) and
-- is kept until the token expires anyway; signing out removes the rows
-- past that. Logged, unlike attempt_counts: a crash must not bring a
-- signed-out session back.
CREATE TABLE signed_out_tokens (
    digest bytea PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

CREATE INDEX signed_out_tokens_expires_at ON signed_out_tokens (expires_at);
