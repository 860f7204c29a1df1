//! Article lists on PostgreSQL: `GET /articles` with its filters, the
//! feed, the page query behind both, search, feeds' and sitemaps' lists,
//! and the tag list.

use postgres::{Client, Row};

use std::ops::Range;
use std::time::SystemTime;

use super::articles::{
    article_from_row, ARTICLE_COLUMNS, ARTICLE_COLUMNS_WITH_BODY, ARTICLE_LIST_COLUMNS,
    ARTICLE_LIST_COLUMNS_ANONYMOUS, AUTHOR_OF_A,
};
use super::{from_time, viewer_id, Param, Session};
use crate::domain::article::{ArticleFilter, Page};
use crate::domain::search::{page_ids, Hit, SearchQuery, RANKED_MAX};
use crate::domain::views::{ArticlePage, FeedEntry, SitemapEntry};
use crate::domain::UserId;
use crate::store::{blocks_sql, StoreError, StoreResult};

pub(super) fn list_articles(
    s: &mut Session<'_, Client>,
    viewer: Option<UserId>,
    filter: &ArticleFilter,
    page: Page,
) -> StoreResult<ArticlePage> {
    let viewer = viewer_id(viewer);
    // Only the filters that are set appear in the SQL, so each of the
    // eight combinations gets its own prepared statement and plan.
    let (where_sql, filter_params) = filter_sql(filter, 2);
    let n = filter_params.len();
    // A single filter, or none, is counted without visiting articles: the
    // counts are kept by triggers in the transactions that change them
    // (V2's tag_counts, V6's list_counts). Combined filters are counted by
    // walking the narrowest index.
    let count_sql = match (&filter.tag, &filter.author, &filter.favorited) {
        (None, None, None) => list_count("'all'"),
        (Some(_), None, None) => {
            "SELECT coalesce((SELECT uses FROM tag_counts WHERE tag = $2), 0) AS n".to_owned()
        }
        (None, Some(_), None) => list_count(&format!("'author:' || {}", user_id("$2"))),
        (None, None, Some(_)) => list_count(&format!("'favorited:' || {}", user_id("$2"))),
        _ => format!("SELECT count(*) AS n FROM articles a{where_sql}"),
    };
    // Lists with blocks (V6) find a deep page without stepping over it.
    let blocks = match (&filter.tag, &filter.author, &filter.favorited) {
        (None, None, None) => Some("'all'"),
        (Some(_), None, None) => Some("'tag:' || $2"),
        _ => None,
    }
    .filter(|_| page.offset >= SEEK_FROM);
    // A tag alone is listed from its own index, whose order is the list's:
    // the page's ids are the tag's newest rows, however rare the tag.
    let source = match (&filter.tag, &filter.author, &filter.favorited) {
        (Some(_), None, None) => PageSource {
            from: "article_tags t",
            id: "t.article_id",
            where_sql: " WHERE t.tag = $2",
        },
        _ => PageSource {
            from: "articles a",
            id: "a.id",
            where_sql: &where_sql,
        },
    };
    let sql = page_sql(&source, &count_sql, blocks, n + 2, n + 3, viewer.is_none());
    let mut params: Vec<Param<'_>> = vec![&viewer];
    params.extend(filter_params);
    params.push(&page.limit);
    params.push(&page.offset);
    page_from_rows(&s.query(&sql, &params)?)
}

pub(super) fn feed(
    s: &mut Session<'_, Client>,
    viewer: UserId,
    page: Page,
) -> StoreResult<ArticlePage> {
    // Each followed author's newest `limit + offset` articles, from
    // articles_author, and the page taken from those: a page reads a few
    // rows per followed author, never everything they wrote.
    const FOLLOWED: PageSource<'static> = PageSource {
        from: "follows f CROSS JOIN LATERAL (SELECT a.id FROM articles a \
               WHERE a.author_id = f.followee_id ORDER BY a.id DESC LIMIT $2::bigint + $3::bigint) x",
        id: "x.id",
        where_sql: " WHERE f.follower_id = $1",
    };
    // The feed's count sums the followed authors' counts: one lookup per
    // followed author, whatever they wrote.
    // LATERAL keeps it one index lookup per followed author: a join lets the
    // planner hash every row of list_counts instead.
    let count_sql = "SELECT coalesce(sum(c.n), 0)::bigint AS n FROM follows f \
         CROSS JOIN LATERAL (SELECT sum(n) AS n FROM list_counts \
         WHERE list = 'author:' || f.followee_id) c WHERE f.follower_id = $1";
    let sql = page_sql(&FOLLOWED, count_sql, None, 2, 3, false);
    page_from_rows(&s.query(&sql, &[&Some(viewer.0), &page.limit, &page.offset])?)
}

/// A search: the newest matches (at most [`RANKED_MAX`]) with the short
/// fields that rank them, ranked by [`SearchQuery::score`], then the page's
/// rows by primary key in rank order, in one snapshot.
///
/// Planned for its words at each run: a word in most articles is found by
/// walking the newest rows until enough match (1 ms at 100,000 articles),
/// a rare one through the GIN index, and a generic plan cannot tell them
/// apart (it took the index for a word in every article: 166 ms).
pub(super) fn search(
    s: &mut Session<'_, Client>,
    viewer: Option<UserId>,
    query: &SearchQuery,
    page: Page,
) -> StoreResult<ArticlePage> {
    s.planned_for_values(|s| {
        let mut hits: Vec<Hit> = s
            .query(
                "SELECT id, title, description, array_to_string(tag_list, ' ') FROM articles \
                 WHERE search @@ $1::text::tsquery ORDER BY id DESC LIMIT $2",
                &[&tsquery(query) as Param<'_>, &RANKED_MAX],
            )?
            .iter()
            .map(|row| Hit {
                id: row.get(0),
                score: query.score(row.get(1), row.get(2), row.get(3)),
            })
            .collect();
        SearchQuery::rank(&mut hits);
        let ids = page_ids(&hits, page);
        let columns = if viewer.is_some() {
            ARTICLE_LIST_COLUMNS
        } else {
            ARTICLE_LIST_COLUMNS_ANONYMOUS
        };
        let sql = format!(
            "WITH page AS (SELECT id, ord FROM unnest($2::bigint[]) WITH ORDINALITY AS p (id, ord)) \
             {columns} FROM page CROSS JOIN LATERAL {PAGE_ARTICLE} \
             CROSS JOIN LATERAL {AUTHOR_OF_A} ORDER BY page.ord"
        );
        let articles = match ids.is_empty() {
            true => Vec::new(),
            false => s
                .query(&sql, &[&viewer_id(viewer) as Param<'_>, &ids])?
                .iter()
                .map(article_from_row)
                .collect(),
        };
        Ok(ArticlePage {
            articles,
            articles_count: hits.len() as i64,
        })
    })
}

/// The tsquery for `query`: every word as a quoted lexeme (so nothing in
/// it is syntax), all required.
fn tsquery(query: &SearchQuery) -> String {
    query.to_syntax(
        |word| format!("'{}'", word.replace('\\', "\\\\").replace('\'', "''")),
        " & ",
    )
}

/// The newest `limit` articles of a list, whole, for feeds: the ids from
/// the list's own index (a tag's rows, else articles), then each row by
/// primary key.
pub(super) fn latest(
    s: &mut Session<'_, Client>,
    filter: &ArticleFilter,
    limit: i64,
) -> StoreResult<Vec<FeedEntry>> {
    let (where_sql, filter_params) = filter_sql(filter, 3);
    let ids = match (&filter.tag, &filter.author, &filter.favorited) {
        (Some(_), None, None) => "SELECT article_id AS id FROM article_tags WHERE tag = $3 \
             ORDER BY article_id DESC LIMIT $2"
            .to_owned(),
        _ => format!("SELECT a.id FROM articles a{where_sql} ORDER BY a.id DESC LIMIT $2"),
    };
    let sql = format!(
        "WITH page AS ({ids}) {ARTICLE_COLUMNS_WITH_BODY}, page.id FROM page \
         CROSS JOIN LATERAL (SELECT id, slug, title, description, body, created_at, updated_at, \
         favorites_count, author_id, tag_list FROM articles WHERE id = page.id OFFSET 0) a \
         CROSS JOIN LATERAL {AUTHOR_OF_A} ORDER BY page.id DESC"
    );
    let none: Option<i64> = None;
    let mut params: Vec<Param<'_>> = vec![&none, &limit];
    params.extend(filter_params);
    Ok(s.query(&sql, &params)?
        .iter()
        .map(|row| FeedEntry {
            id: row.get(ARTICLE_COLUMNS),
            article: article_from_row(row),
        })
        .collect())
}

pub(super) fn sitemap_blocks(
    s: &mut Session<'_, Client>,
    block: i64,
) -> StoreResult<(Vec<i64>, Vec<i64>)> {
    let mut blocks = |table: &str| -> StoreResult<Vec<i64>> {
        Ok(s.query(&blocks_sql(table, "$1::bigint"), &[&block])?
            .iter()
            .map(|row| row.get(0))
            .collect())
    };
    Ok((blocks("articles")?, blocks("users")?))
}

pub(super) fn sitemap_articles(
    s: &mut Session<'_, Client>,
    ids: &Range<i64>,
) -> StoreResult<Vec<SitemapEntry>> {
    sitemap_rows(
        s,
        "SELECT slug, updated_at FROM articles WHERE id >= $1 AND id < $2 ORDER BY id",
        ids,
    )
}

pub(super) fn sitemap_profiles(
    s: &mut Session<'_, Client>,
    ids: &Range<i64>,
) -> StoreResult<Vec<SitemapEntry>> {
    sitemap_rows(
        s,
        "SELECT username, NULL::timestamptz FROM users WHERE id >= $1 AND id < $2 ORDER BY id",
        ids,
    )
}

fn sitemap_rows(
    s: &mut Session<'_, Client>,
    sql: &str,
    ids: &Range<i64>,
) -> StoreResult<Vec<SitemapEntry>> {
    Ok(s.query(sql, &[&ids.start, &ids.end])?
        .iter()
        .map(|row| SitemapEntry {
            key: row.get(0),
            updated_at: row.get::<_, Option<SystemTime>>(1).map(from_time),
        })
        .collect())
}

/// From this offset on, a page of a list with blocks is found through
/// them; below it, stepping over the rows costs less than summing blocks.
const SEEK_FROM: i64 = 4096;

/// The count of the list whose key is the SQL expression `list_key`.
fn list_count(list_key: &str) -> String {
    format!("SELECT coalesce(sum(n), 0)::bigint AS n FROM list_counts WHERE list = {list_key}")
}

/// The id of the user named by parameter `param` (NULL when none).
fn user_id(param: &str) -> String {
    format!("(SELECT id FROM users WHERE lower(username) = lower({param}))")
}

pub(super) fn tags(s: &mut Session<'_, Client>) -> StoreResult<Vec<String>> {
    Ok(s.query(
        "SELECT tag FROM tag_counts ORDER BY uses DESC, tag COLLATE \"C\"",
        &[],
    )?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

/// The SQL of one page and its total as a single statement, so both come
/// from the statement's one snapshot in one round trip (no transaction).
/// The page's ids are chosen first from the indexes alone (`where_sql`
/// filters `articles a`), then flags and authors are looked up for those
/// rows only. Every row carries the total in its last column; an empty page
/// is one row of NULL article columns, so the total still arrives.
///
/// With `blocks` (the SQL of a list key), the offset is first resolved
/// through that list's blocks: the newest blocks are summed until the one
/// holding the page's first row, and the page then skips only within it.
fn page_sql(
    source: &PageSource<'_>,
    count_sql: &str,
    blocks: Option<&str>,
    limit: usize,
    offset: usize,
    anonymous: bool,
) -> String {
    let columns = if anonymous {
        ARTICLE_LIST_COLUMNS_ANONYMOUS
    } else {
        ARTICLE_LIST_COLUMNS
    };
    let PageSource {
        from,
        id,
        where_sql,
    } = source;
    let (seek, page_ids) = match blocks {
        None => (
            String::new(),
            format!(
                "SELECT {id} AS id FROM {from}{where_sql} ORDER BY {id} DESC \
                 LIMIT ${limit} OFFSET ${offset}"
            ),
        ),
        Some(list_key) => {
            let bounded = if where_sql.is_empty() {
                format!(" WHERE {id} < (SELECT bound FROM seek)")
            } else {
                format!("{where_sql} AND {id} < (SELECT bound FROM seek)")
            };
            (
                format!(
                    "seek AS (SELECT coalesce(upper, {NO_BOUND}) AS bound, (${offset}::bigint - before)::bigint AS skip \
                     FROM (SELECT lag(block_start) OVER w AS upper, \
                     coalesce(sum(n) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS before, \
                     sum(n) OVER (w ROWS UNBOUNDED PRECEDING) AS through \
                     FROM (SELECT block_start, sum(n) AS n FROM list_blocks WHERE list = {list_key} GROUP BY block_start) b \
                     WINDOW w AS (ORDER BY block_start DESC)) c \
                     WHERE through > ${offset}::bigint ORDER BY through LIMIT 1), "
                ),
                format!(
                    "SELECT {id} AS id FROM {from}{bounded} ORDER BY {id} DESC LIMIT ${limit} \
                     OFFSET (SELECT skip FROM seek)"
                ),
            )
        }
    };
    format!(
        "WITH {seek}total AS ({count_sql}), page AS ({page_ids}) \
         {columns}, total.n FROM total LEFT JOIN \
         (page CROSS JOIN LATERAL {PAGE_ARTICLE} CROSS JOIN LATERAL {AUTHOR}) ON true \
         ORDER BY page.id DESC",
        AUTHOR = AUTHOR_OF_A
    )
}

/// Where a page's ids come from: `from` (an index-backed table), the id
/// column `id` in the list's order, and the filter as SQL.
struct PageSource<'a> {
    from: &'a str,
    id: &'a str,
    where_sql: &'a str,
}

/// No upper bound on article ids: the page starts in the newest block.
const NO_BOUND: i64 = i64::MAX;

/// The row of `page.id`, joined by primary key for each id of the page.
const PAGE_ARTICLE: &str = "(SELECT id, slug, title, description, created_at, updated_at, \
     favorites_count, author_id, tag_list FROM articles WHERE id = page.id OFFSET 0) a";

/// The rows of [`page_sql`] as a page.
fn page_from_rows(rows: &[Row]) -> StoreResult<ArticlePage> {
    let articles_count = rows
        .first()
        .ok_or_else(|| StoreError::Backend("a page query returned no total".into()))?
        .get(ARTICLE_COLUMNS);
    let articles = rows
        .iter()
        .filter(|row| row.get::<_, Option<&str>>(0).is_some())
        .map(article_from_row)
        .collect();
    Ok(ArticlePage {
        articles,
        articles_count,
    })
}

/// SQL for the set filters, numbering parameters from `$first`.
fn filter_sql<'a>(filter: &'a ArticleFilter, first: usize) -> (String, Vec<Param<'a>>) {
    let mut clauses = Vec::new();
    let mut params: Vec<Param<'a>> = Vec::new();
    if let Some(tag) = &filter.tag {
        clauses.push(format!(
            "a.id IN (SELECT article_id FROM article_tags WHERE tag = ${})",
            first + params.len()
        ));
        params.push(tag);
    }
    if let Some(author) = &filter.author {
        clauses.push(format!(
            "a.author_id = {}",
            user_id(&format!("${}", first + params.len()))
        ));
        params.push(author);
    }
    if let Some(favorited) = &filter.favorited {
        clauses.push(format!(
            "a.id IN (SELECT fv.article_id FROM favorites fv WHERE fv.user_id = {})",
            user_id(&format!("${}", first + params.len()))
        ));
        params.push(favorited);
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    (sql, params)
}
