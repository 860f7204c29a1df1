-- Article lists whose cost does not grow with the blog, kept exact by
-- triggers in the transaction that writes:
-- * list_counts: how many articles a list holds, as up to 8 rows per list
--   (slot = article id % 8), so concurrent writers rarely wait on one row
--   and a count sums at most 8 rows. Lists: 'all', 'author:<user id>',
--   'favorited:<user id>'. A tag's count stays in tag_counts (V2).
-- * list_blocks: the same per block of 4096 article ids, for 'all' and
--   'tag:<tag>'. A deep page (a large offset) is found by summing blocks
--   from the newest down, then skipping only within one block.
-- The triggers are deferred to commit: the shared rows are locked for the
-- commit only, and always after the rows the write itself changes, so two
-- writers take locks in the same order.

CREATE TABLE list_counts (
    list text     NOT NULL,
    slot smallint NOT NULL,
    n    bigint   NOT NULL,
    PRIMARY KEY (list, slot)
);

CREATE TABLE list_blocks (
    list        text     NOT NULL,
    -- the first article id of the block
    block_start bigint   NOT NULL,
    slot        smallint NOT NULL,
    n           bigint   NOT NULL,
    PRIMARY KEY (list, block_start, slot)
);

-- Each trigger writes its rows with as few statements as it can, inline:
-- creating an article is the write these triggers make dearer (measured
-- in BENCHMARKS.md).
CREATE FUNCTION conduit_count_article() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO list_counts (list, slot, n)
        VALUES ('all', NEW.id % 8, 1), ('author:' || NEW.author_id, NEW.id % 8, 1)
        ON CONFLICT (list, slot) DO UPDATE SET n = list_counts.n + 1;
        INSERT INTO list_blocks (list, block_start, slot, n)
        VALUES ('all', NEW.id - NEW.id % 4096, NEW.id % 8, 1)
        ON CONFLICT (list, block_start, slot) DO UPDATE SET n = list_blocks.n + 1;
    ELSE
        UPDATE list_counts SET n = n - 1
        WHERE slot = OLD.id % 8 AND list IN ('all', 'author:' || OLD.author_id);
        UPDATE list_blocks SET n = n - 1
        WHERE list = 'all' AND block_start = OLD.id - OLD.id % 4096 AND slot = OLD.id % 8;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION conduit_count_article_tag() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- the tag's total is in tag_counts; only its blocks here
    IF TG_OP = 'INSERT' THEN
        INSERT INTO list_blocks (list, block_start, slot, n)
        VALUES ('tag:' || NEW.tag, NEW.article_id - NEW.article_id % 4096, NEW.article_id % 8, 1)
        ON CONFLICT (list, block_start, slot) DO UPDATE SET n = list_blocks.n + 1;
    ELSE
        UPDATE list_blocks SET n = n - 1
        WHERE list = 'tag:' || OLD.tag AND block_start = OLD.article_id - OLD.article_id % 4096
          AND slot = OLD.article_id % 8;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION conduit_count_favorite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO list_counts (list, slot, n) VALUES ('favorited:' || NEW.user_id, NEW.article_id % 8, 1)
        ON CONFLICT (list, slot) DO UPDATE SET n = list_counts.n + 1;
    ELSE
        UPDATE list_counts SET n = n - 1
        WHERE list = 'favorited:' || OLD.user_id AND slot = OLD.article_id % 8;
    END IF;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER articles_listed AFTER INSERT OR DELETE ON articles
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION conduit_count_article();
CREATE CONSTRAINT TRIGGER article_tags_listed AFTER INSERT OR DELETE ON article_tags
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION conduit_count_article_tag();
CREATE CONSTRAINT TRIGGER favorites_listed AFTER INSERT OR DELETE ON favorites
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION conduit_count_favorite();

-- What earlier releases wrote.
INSERT INTO list_counts (list, slot, n)
SELECT 'all', id % 8, count(*) FROM articles GROUP BY id % 8;
INSERT INTO list_counts (list, slot, n)
SELECT 'author:' || author_id, id % 8, count(*) FROM articles GROUP BY author_id, id % 8;
INSERT INTO list_counts (list, slot, n)
SELECT 'favorited:' || user_id, article_id % 8, count(*) FROM favorites GROUP BY user_id, article_id % 8;
INSERT INTO list_blocks (list, block_start, slot, n)
SELECT 'all', id - id % 4096, id % 8, count(*) FROM articles GROUP BY id - id % 4096, id % 8;
INSERT INTO list_blocks (list, block_start, slot, n)
SELECT 'tag:' || tag, article_id - article_id % 4096, article_id % 8, count(*)
FROM article_tags GROUP BY tag, article_id - article_id % 4096, article_id % 8;
