-- Article lists whose cost does not grow with the blog, kept exact by
-- triggers in the transaction that writes (the same tables as PostgreSQL's
-- V6):
-- * list_counts: how many articles a list holds ('all', 'author:<user id>',
--   'favorited:<user id>'; a tag's count stays in tag_counts);
-- * list_blocks: the same per block of article ids, for 'all' and
--   'tag:<tag>', to find a deep page without stepping over every row.
-- SQLite has one writer at a time, so no row is hot here: one slot (0) per
-- list or block, where PostgreSQL spreads writers over 8. Blocks are 512
-- ids: stepping over the rows of one block reads whole table pages on
-- SQLite (PostgreSQL steps through its dense primary-key index), so its
-- blocks are smaller and there are fewer rows per block to sum.

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
    INSERT INTO list_counts (list, slot, n) VALUES ('all', 0, 1)
    ON CONFLICT (list, slot) DO UPDATE SET n = n + 1;
    INSERT INTO list_counts (list, slot, n) VALUES ('author:' || NEW.author_id, 0, 1)
    ON CONFLICT (list, slot) DO UPDATE SET n = n + 1;
    INSERT INTO list_blocks (list, block_start, slot, n) VALUES ('all', NEW.id - NEW.id % 512, 0, 1)
    ON CONFLICT (list, block_start, slot) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER articles_unlisted AFTER DELETE ON articles
BEGIN
    UPDATE list_counts SET n = n - 1 WHERE list = 'all' AND slot = 0;
    UPDATE list_counts SET n = n - 1 WHERE list = 'author:' || OLD.author_id AND slot = 0;
    UPDATE list_blocks SET n = n - 1
    WHERE list = 'all' AND block_start = OLD.id - OLD.id % 512 AND slot = 0;
END;

CREATE TRIGGER article_tags_listed AFTER INSERT ON article_tags
BEGIN
    INSERT INTO list_blocks (list, block_start, slot, n)
    VALUES ('tag:' || NEW.tag, NEW.article_id - NEW.article_id % 512, 0, 1)
    ON CONFLICT (list, block_start, slot) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER article_tags_unlisted AFTER DELETE ON article_tags
BEGIN
    UPDATE list_blocks SET n = n - 1
    WHERE list = 'tag:' || OLD.tag AND block_start = OLD.article_id - OLD.article_id % 512
      AND slot = 0;
END;

CREATE TRIGGER favorites_listed AFTER INSERT ON favorites
BEGIN
    INSERT INTO list_counts (list, slot, n) VALUES ('favorited:' || NEW.user_id, 0, 1)
    ON CONFLICT (list, slot) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER favorites_unlisted AFTER DELETE ON favorites
BEGIN
    UPDATE list_counts SET n = n - 1 WHERE list = 'favorited:' || OLD.user_id AND slot = 0;
END;

-- What earlier releases wrote.
INSERT INTO list_counts (list, slot, n)
SELECT 'all', 0, count(*) FROM articles WHERE true HAVING count(*) > 0;
INSERT INTO list_counts (list, slot, n)
SELECT 'author:' || author_id, 0, count(*) FROM articles WHERE true GROUP BY author_id;
INSERT INTO list_counts (list, slot, n)
SELECT 'favorited:' || user_id, 0, count(*) FROM favorites WHERE true GROUP BY user_id;
INSERT INTO list_blocks (list, block_start, slot, n)
SELECT 'all', id - id % 512, 0, count(*) FROM articles WHERE true GROUP BY id - id % 512;
INSERT INTO list_blocks (list, block_start, slot, n)
SELECT 'tag:' || tag, article_id - article_id % 512, 0, count(*)
FROM article_tags WHERE true GROUP BY tag, article_id - article_id % 512;
