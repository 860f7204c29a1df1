-- Tokens whose session was signed out: refused from then on, by every
-- process that uses this database, although their signature and expiry
-- are still good. A row names the token by the SHA-256 digest of its text
-- (never the token itself) and is kept until the token expires anyway,
-- as Unix seconds; signing out removes the rows past that.
CREATE TABLE signed_out_tokens (
    digest BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX signed_out_tokens_expires_at ON signed_out_tokens (expires_at);
