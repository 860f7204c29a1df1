-- Article lists whose cost does not grow with the blog, kept exact by
-- triggers in the transaction that writes (the same tables as PostgreSQL's
-- V6, where the reasons for the slots are given; SQLite has one writer at
-- a time, so here they only keep the two backends alike):
-- * list_counts: how many articles a list holds ('all', 'author:<user id>',
--   'favorited:<user id>'; a tag's count stays in tag_counts);
-- * list_blocks: the same per block of 4096 article ids, for 'all' and
--   'tag:<tag>', to find a deep page without stepping over every row.

CREATE TABLE list_counts (
    list TEXT    NOT NULL,
    slot INTEGER NOT NULL,
    n    INTEGER NOT NULL,
    PRIMARY KEY (list, slot)
) WITHOUT ROWID;

CREATE TABLE list_blocks (
    list        TEXT    NOT NULL,
    -- the first article id of the block
    block_start INTEGER NOT NULL,
    slot        INTEGER NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (list, block_start, slot)
) WITHOUT ROWID;

CREATE TRIGGER articles_listed AFTER INSERT ON articles
BEGIN
    INSERT INTO list_counts (list, slot, n) VALUES ('all', NEW.id % 8, 1)
    ON CONFLICT (list, slot) DO UPDATE SET n = n + 1;
    INSERT INTO list_counts (list, slot, n) VALUES ('author:' || NEW.author_id, NEW.id % 8, 1)
    ON CONFLICT (list, slot) DO UPDATE SET n = n + 1;
    INSERT INTO list_blocks (list, block_start, slot, n) VALUES ('all', NEW.id - NEW.id % 4096, NEW.id % 8, 1)
    ON CONFLICT (list, block_start, slot) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER articles_unlisted AFTER DELETE ON articles
BEGIN
    UPDATE list_counts SET n = n - 1 WHERE list = 'all' AND slot = OLD.id % 8;
    UPDATE list_counts SET n = n - 1 WHERE list = 'author:' || OLD.author_id AND slot = OLD.id % 8;
    UPDATE list_blocks SET n = n - 1
    WHERE list = 'all' AND block_start = OLD.id - OLD.id % 4096 AND slot = OLD.id % 8;
END;

CREATE TRIGGER article_tags_listed AFTER INSERT ON article_tags
BEGIN
    INSERT INTO list_blocks (list, block_start, slot, n)
    VALUES ('tag:' || NEW.tag, NEW.article_id - NEW.article_id % 4096, NEW.article_id % 8, 1)
    ON CONFLICT (list, block_start, slot) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER article_tags_unlisted AFTER DELETE ON article_tags
BEGIN
    UPDATE list_blocks SET n = n - 1
    WHERE list = 'tag:' || OLD.tag AND block_start = OLD.article_id - OLD.article_id % 4096
      AND slot = OLD.article_id % 8;
END;

CREATE TRIGGER favorites_listed AFTER INSERT ON favorites
BEGIN
    INSERT INTO list_counts (list, slot, n) VALUES ('favorited:' || NEW.user_id, NEW.article_id % 8, 1)
    ON CONFLICT (list, slot) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER favorites_unlisted AFTER DELETE ON favorites
BEGIN
    UPDATE list_counts SET n = n - 1 WHERE list = 'favorited:' || OLD.user_id AND slot = OLD.article_id % 8;
END;

-- What earlier releases wrote.
INSERT INTO list_counts (list, slot, n)
SELECT 'all', id % 8, count(*) FROM articles WHERE true GROUP BY id % 8;
INSERT INTO list_counts (list, slot, n)
SELECT 'author:' || author_id, id % 8, count(*) FROM articles WHERE true GROUP BY author_id, id % 8;
INSERT INTO list_counts (list, slot, n)
SELECT 'favorited:' || user_id, article_id % 8, count(*) FROM favorites WHERE true GROUP BY user_id, article_id % 8;
INSERT INTO list_blocks (list, block_start, slot, n)
SELECT 'all', id - id % 4096, id % 8, count(*) FROM articles WHERE true GROUP BY id - id % 4096, id % 8;
INSERT INTO list_blocks (list, block_start, slot, n)
SELECT 'tag:' || tag, article_id - article_id % 4096, article_id % 8, count(*)
FROM article_tags WHERE true GROUP BY tag, article_id - article_id % 4096, article_id % 8;
