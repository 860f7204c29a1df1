-- tagList is returned sorted by Unicode code point (byte order of UTF-8,
-- the "C" collation), no longer in the author's order: re-sort what earlier
-- releases stored. `position` becomes the rank in that order, as new writes
-- store it.

UPDATE article_tags t SET position = ranked.rank
FROM (
    SELECT article_id, tag,
           row_number() OVER (PARTITION BY article_id ORDER BY tag COLLATE "C") - 1 AS rank
    FROM article_tags
) ranked
WHERE t.article_id = ranked.article_id AND t.tag = ranked.tag AND t.position <> ranked.rank;

UPDATE articles a SET tag_list = sorted.tags
FROM (
    SELECT article_id, array_agg(tag ORDER BY tag COLLATE "C") AS tags
    FROM article_tags GROUP BY article_id
) sorted
WHERE a.id = sorted.article_id AND a.tag_list IS DISTINCT FROM sorted.tags;
