//! Article lists on PostgreSQL: `GET /articles` with its filters, the
//! feed, the page query behind both, and the tag list.

use postgres::{Client, Row};

use super::articles::{
    article_from_row, ARTICLE_COLUMNS, ARTICLE_LIST_COLUMNS, ARTICLE_LIST_COLUMNS_ANONYMOUS,
    AUTHOR_OF_A,
};
use super::{viewer_id, Param, Session};
use crate::domain::article::{ArticleFilter, Page};
use crate::domain::views::ArticlePage;
use crate::domain::UserId;
use crate::store::{StoreError, StoreResult};

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
    // A single filter is counted without visiting articles: a tag's
    // count is kept by a trigger in the same transactions that change
    // it (V2), and a favorite always has its article.
    let count_sql = match (&filter.tag, &filter.author, &filter.favorited) {
        (Some(_), None, None) => {
            "SELECT coalesce((SELECT uses FROM tag_counts WHERE tag = $2), 0) AS n".to_owned()
        }
        (None, None, Some(_)) => "SELECT count(*) AS n FROM favorites WHERE user_id = \
             (SELECT id FROM users WHERE lower(username) = lower($2))"
            .to_owned(),
        _ => format!("SELECT count(*) AS n FROM articles a{where_sql}"),
    };
    let sql = page_sql(&where_sql, &count_sql, n + 2, n + 3, viewer.is_none());
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
    const FOLLOWED: &str =
        " WHERE a.author_id IN (SELECT followee_id FROM follows WHERE follower_id = $1)";
    let sql = page_sql(
        FOLLOWED,
        &format!("SELECT count(*) AS n FROM articles a{FOLLOWED}"),
        2,
        3,
        false,
    );
    page_from_rows(&s.query(&sql, &[&Some(viewer.0), &page.limit, &page.offset])?)
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
fn page_sql(
    where_sql: &str,
    count_sql: &str,
    limit: usize,
    offset: usize,
    anonymous: bool,
) -> String {
    let columns = if anonymous {
        ARTICLE_LIST_COLUMNS_ANONYMOUS
    } else {
        ARTICLE_LIST_COLUMNS
    };
    format!(
        "WITH total AS ({count_sql}), \
         page AS (SELECT a.id FROM articles a{where_sql} ORDER BY a.id DESC LIMIT ${limit} OFFSET ${offset}) \
         {columns}, total.n FROM total LEFT JOIN \
         (page CROSS JOIN LATERAL {PAGE_ARTICLE} CROSS JOIN LATERAL {AUTHOR}) ON true \
         ORDER BY page.id DESC",
        AUTHOR = AUTHOR_OF_A
    )
}

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
            "a.author_id = (SELECT id FROM users WHERE lower(username) = lower(${}))",
            first + params.len()
        ));
        params.push(author);
    }
    if let Some(favorited) = &filter.favorited {
        clauses.push(format!(
            "a.id IN (SELECT fv.article_id FROM favorites fv WHERE fv.user_id = \
             (SELECT id FROM users WHERE lower(username) = lower(${})))",
            first + params.len()
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
