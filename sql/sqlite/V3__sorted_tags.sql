-- tagList is returned sorted by Unicode code point (the order of UTF-8
-- bytes, SQLite's BINARY collation), no longer in the author's order:
-- re-sort what earlier releases stored. `position` becomes the rank in that
-- order, as new writes store it.

UPDATE article_tags SET position = (
    SELECT count(*) FROM article_tags o
    WHERE o.article_id = article_tags.article_id AND o.tag < article_tags.tag
);
UPDATE articles SET tag_list = (
    SELECT coalesce(json_group_array(t.tag ORDER BY t.tag), '[]')
    FROM article_tags t WHERE t.article_id = articles.id
);
