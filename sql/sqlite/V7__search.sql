-- Full-text search over title, description, body and tags (the same
-- columns as PostgreSQL's V7), kept in step by triggers in the transaction
-- that writes the article.
-- * Contentless: the index keeps no second copy of the text; rows are
--   removed by id (contentless_delete).
-- * unicode61 without removing diacritics and without stemming, its word
--   characters narrowed to letters and decimal digits (categories L* and
--   Nd): a word is a run of those, compared in lower case, as PostgreSQL's
--   side indexes it, so both backends find the same articles.
-- * Tags are indexed as their values joined by spaces (not as the JSON
--   text of tag_list, whose escapes would make words of their own).
-- * The body is indexed up to its first 100,000 characters, as on
--   PostgreSQL (whose tsvector has a size limit).

CREATE VIRTUAL TABLE article_search USING fts5 (
    title, description, body, tags,
    content = '', contentless_delete = 1,
    tokenize = "unicode61 remove_diacritics 0 categories 'L* Nd'"
);

CREATE TRIGGER articles_searchable AFTER INSERT ON articles
BEGIN
    INSERT INTO article_search (rowid, title, description, body, tags)
    VALUES (NEW.id, NEW.title, NEW.description, substr(NEW.body, 1, 100000),
            (SELECT group_concat(value, ' ') FROM json_each(NEW.tag_list)));
END;

CREATE TRIGGER articles_searchable_again AFTER UPDATE OF title, description, body, tag_list ON articles
BEGIN
    DELETE FROM article_search WHERE rowid = OLD.id;
    INSERT INTO article_search (rowid, title, description, body, tags)
    VALUES (NEW.id, NEW.title, NEW.description, substr(NEW.body, 1, 100000),
            (SELECT group_concat(value, ' ') FROM json_each(NEW.tag_list)));
END;

CREATE TRIGGER articles_unsearchable AFTER DELETE ON articles
BEGIN
    DELETE FROM article_search WHERE rowid = OLD.id;
END;

-- What earlier releases wrote.
INSERT INTO article_search (rowid, title, description, body, tags)
SELECT id, title, description, substr(body, 1, 100000),
       (SELECT group_concat(value, ' ') FROM json_each(tag_list))
FROM articles;
