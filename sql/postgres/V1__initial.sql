-- Conduit schema for PostgreSQL.

CREATE TABLE users (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username           text        NOT NULL,
    email              text        NOT NULL,
    -- lowercased email: uniqueness and login ignore case, the address is kept as given
    email_key          text        NOT NULL,
    password_hash      text        NOT NULL,
    bio                text        NOT NULL DEFAULT '',
    image              text        NOT NULL DEFAULT '',
    -- bumped on password change; tokens carry it
    credential_version bigint      NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);
-- usernames are ASCII, so lower() is exact case-insensitivity
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (email_key);

CREATE TABLE follows (
    follower_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (follower_id, followee_id),
    CHECK (follower_id <> followee_id)
);
CREATE INDEX follows_followee ON follows (followee_id, follower_id);

CREATE TABLE articles (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug            text        NOT NULL,
    author_id       bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title           text        NOT NULL,
    description     text        NOT NULL,
    body            text        NOT NULL,
    -- kept in step with favorites in the same transaction
    favorites_count bigint      NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT articles_slug_key UNIQUE (slug)
);
-- lists are newest first = highest id first
CREATE INDEX articles_author ON articles (author_id, id DESC);

CREATE TABLE article_tags (
    article_id bigint  NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    tag        text    NOT NULL,
    -- order the author gave
    position   integer NOT NULL,
    PRIMARY KEY (article_id, tag)
);
CREATE INDEX article_tags_tag ON article_tags (tag, article_id);

CREATE TABLE favorites (
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    article_id bigint NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, article_id)
);
CREATE INDEX favorites_article ON favorites (article_id, user_id);

CREATE TABLE comments (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    article_id bigint      NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    author_id  bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body       text        NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX comments_article ON comments (article_id, id);
CREATE INDEX comments_author ON comments (author_id);

-- process-wide values
CREATE TABLE settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);
