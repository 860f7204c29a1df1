-- Conduit schema for SQLite. Timestamps are milliseconds since the Unix epoch.

CREATE TABLE users (
    id                 INTEGER PRIMARY KEY,
    username           TEXT    NOT NULL,
    email              TEXT    NOT NULL,
    -- lowercased email: uniqueness and login ignore case, the address is kept as given
    email_key          TEXT    NOT NULL,
    password_hash      TEXT    NOT NULL,
    bio                TEXT    NOT NULL DEFAULT '',
    image              TEXT    NOT NULL DEFAULT '',
    -- bumped on password change; tokens carry it
    credential_version INTEGER NOT NULL DEFAULT 1,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
-- usernames are ASCII, so NOCASE is exact case-insensitivity
CREATE UNIQUE INDEX users_username_key ON users (username COLLATE NOCASE);
CREATE UNIQUE INDEX users_email_key ON users (email_key);

CREATE TABLE follows (
    follower_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (follower_id, followee_id),
    CHECK (follower_id <> followee_id)
) WITHOUT ROWID;
CREATE INDEX follows_followee ON follows (followee_id, follower_id);

CREATE TABLE articles (
    id              INTEGER PRIMARY KEY,
    slug            TEXT    NOT NULL UNIQUE,
    author_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title           TEXT    NOT NULL,
    description     TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    -- kept in step with `favorites` in the same transaction
    favorites_count INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
-- lists are newest first = highest id first; by author uses (author_id, rowid)
CREATE INDEX articles_author ON articles (author_id);

CREATE TABLE article_tags (
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    tag        TEXT    NOT NULL,
    -- order the author gave
    position   INTEGER NOT NULL,
    PRIMARY KEY (article_id, tag)
) WITHOUT ROWID;
CREATE INDEX article_tags_tag ON article_tags (tag, article_id);

CREATE TABLE favorites (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, article_id)
) WITHOUT ROWID;
CREATE INDEX favorites_article ON favorites (article_id, user_id);

CREATE TABLE comments (
    id         INTEGER PRIMARY KEY,
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    author_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX comments_article ON comments (article_id, id);
CREATE INDEX comments_author ON comments (author_id);

-- process-wide values such as the generated token secret
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
