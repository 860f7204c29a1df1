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

CREATE FUNCTION conduit_count_in_list(list_key text, article_id bigint, delta integer, with_blocks boolean)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO list_counts (list, slot, n) VALUES (list_key, article_id % 8, delta)
    ON CONFLICT (list, slot) DO UPDATE SET n = list_counts.n + delta;
    IF with_blocks THEN
        INSERT INTO list_blocks (list, block_start, slot, n)
        VALUES (list_key, article_id - article_id % 4096, article_id % 8, delta)
        ON CONFLICT (list, block_start, slot) DO UPDATE SET n = list_blocks.n + delta;
    END IF;
END
$$;

CREATE FUNCTION conduit_count_article() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta integer := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
    counted articles := CASE WHEN TG_OP = 'INSERT' THEN NEW ELSE OLD END;
BEGIN
    PERFORM conduit_count_in_list('all', counted.id, delta, true);
    PERFORM conduit_count_in_list('author:' || counted.author_id, counted.id, delta, false);
    RETURN NULL;
END
$$;

CREATE FUNCTION conduit_count_article_tag() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta integer := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
    counted article_tags := CASE WHEN TG_OP = 'INSERT' THEN NEW ELSE OLD END;
BEGIN
    -- the tag's total is in tag_counts; only its blocks here
    INSERT INTO list_blocks (list, block_start, slot, n)
    VALUES ('tag:' || counted.tag, counted.article_id - counted.article_id % 4096, counted.article_id % 8, delta)
    ON CONFLICT (list, block_start, slot) DO UPDATE SET n = list_blocks.n + delta;
    RETURN NULL;
END
$$;

CREATE FUNCTION conduit_count_favorite() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta integer := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
    counted favorites := CASE WHEN TG_OP = 'INSERT' THEN NEW ELSE OLD END;
BEGIN
    PERFORM conduit_count_in_list('favorited:' || counted.user_id, counted.article_id, delta, false);
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
