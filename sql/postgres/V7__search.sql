-- Full-text search over title, description, body and tags (the same
-- columns as SQLite's V7): a generated tsvector column, so every write
-- keeps it in step in its own transaction, and a GIN index on it.
-- * Words are cut as SQLite's unicode61 tokenizer cuts them: every run of
--   characters that are not letters or digits (by ICU, whatever the
--   database's locale) becomes a space, and the text is lowercased by ICU.
--   The `simple` configuration then neither stems nor drops stop words, so
--   both backends find the same articles for the same words.
-- * Weights rank a match in the title (A) above one in the tags (B), the
--   description (C) and the body (D).
-- * The body is indexed up to its first 100,000 characters: a tsvector
--   holds at most 1 MB, and a long body of distinct words would exceed it.

CREATE FUNCTION conduit_search_words(text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN lower(regexp_replace($1 COLLATE "und-x-icu", '[^[:alnum:]]+', ' ', 'g'));

CREATE FUNCTION conduit_search_document(title text, description text, body text, tags text[])
    RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN setweight(to_tsvector('simple', conduit_search_words(title)), 'A')
        || setweight(to_tsvector('simple', conduit_search_words(array_to_string(tags, ' '))), 'B')
        || setweight(to_tsvector('simple', conduit_search_words(description)), 'C')
        || setweight(to_tsvector('simple', conduit_search_words(left(body, 100000))), 'D');

ALTER TABLE articles ADD COLUMN search tsvector
    GENERATED ALWAYS AS (conduit_search_document(title, description, body, tag_list)) STORED;

CREATE INDEX articles_search ON articles USING gin (search);
