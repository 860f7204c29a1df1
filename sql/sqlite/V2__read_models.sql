-- Cheaper reads, kept exact by the writes themselves:
-- * each article carries its tag list (JSON array, in the author's order),
--   written in the same transaction as article_tags;
-- * tag_counts holds how many articles use each tag, maintained by triggers
--   (which also fire for the cascade when an article is deleted).
-- Expand-only: article_tags stays the source for filtering by tag.

ALTER TABLE articles ADD COLUMN tag_list TEXT NOT NULL DEFAULT '[]';
UPDATE articles SET tag_list = (
    SELECT coalesce(json_group_array(t.tag ORDER BY t.position), '[]')
    FROM article_tags t WHERE t.article_id = articles.id
);

CREATE TABLE tag_counts (
    tag  TEXT    PRIMARY KEY,
    uses INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX tag_counts_by_use ON tag_counts (uses DESC, tag);
INSERT INTO tag_counts (tag, uses) SELECT tag, count(*) FROM article_tags GROUP BY tag;

CREATE TRIGGER article_tags_counted AFTER INSERT ON article_tags
BEGIN
    INSERT OR IGNORE INTO tag_counts (tag, uses) VALUES (NEW.tag, 0);
    UPDATE tag_counts SET uses = uses + 1 WHERE tag = NEW.tag;
END;

CREATE TRIGGER article_tags_uncounted AFTER DELETE ON article_tags
BEGIN
    UPDATE tag_counts SET uses = uses - 1 WHERE tag = OLD.tag;
    DELETE FROM tag_counts WHERE tag = OLD.tag AND uses <= 0;
END;
