-- Cheaper reads, kept exact by the writes themselves:
-- * each article carries its tag list (in the author's order), written in
--   the same transaction as article_tags;
-- * tag_counts holds how many articles use each tag, maintained by a
--   trigger (which also fires for the cascade when an article is deleted).
-- Expand-only: article_tags stays the source for filtering by tag.

ALTER TABLE articles ADD COLUMN tag_list text[] NOT NULL DEFAULT '{}';
UPDATE articles a SET tag_list = array(
    SELECT t.tag FROM article_tags t WHERE t.article_id = a.id ORDER BY t.position
);

CREATE TABLE tag_counts (
    tag  text   PRIMARY KEY,
    uses bigint NOT NULL
);
CREATE INDEX tag_counts_by_use ON tag_counts (uses DESC, tag COLLATE "C");
INSERT INTO tag_counts (tag, uses) SELECT tag, count(*) FROM article_tags GROUP BY tag;

CREATE FUNCTION conduit_count_tag() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO tag_counts (tag, uses) VALUES (NEW.tag, 1)
        ON CONFLICT (tag) DO UPDATE SET uses = tag_counts.uses + 1;
    ELSE
        UPDATE tag_counts SET uses = uses - 1 WHERE tag = OLD.tag;
        DELETE FROM tag_counts WHERE tag = OLD.tag AND uses <= 0;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER article_tags_counted AFTER INSERT OR DELETE ON article_tags
    FOR EACH ROW EXECUTE FUNCTION conduit_count_tag();
