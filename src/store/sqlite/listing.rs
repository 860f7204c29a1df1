//! Article lists on SQLite: `GET /articles` with its filters, the feed,
//! the page queries behind both, search, feeds' and sitemaps' lists, and
//! the tag list.

use std::ops::Range;

use rusqlite::{named_params, Connection, ToSql, Transaction};

use super::articles::{
    article_from_row, ARTICLE_COLUMNS_WITH_BODY, ARTICLE_LIST_COLUMNS,
    ARTICLE_LIST_COLUMNS_ANONYMOUS,
};
use crate::domain::article::{ArticleFilter, Page};
use crate::domain::search::{page_ids, Hit, SearchQuery, RANKED_MAX};
use crate::domain::views::{ArticlePage, ArticleView, FeedEntry, SitemapEntry, Timestamp};
use crate::domain::UserId;
use crate::store::{blocks_sql, StoreError, StoreResult};

pub(super) fn list_articles(
    tx: &Transaction<'_>,
    viewer: Option<UserId>,
    filter: &ArticleFilter,
    page: Page,
) -> StoreResult<ArticlePage> {
    article_page(tx, viewer, &list_query(filter), page)
}

pub(super) fn feed(tx: &Transaction<'_>, viewer: UserId, page: Page) -> StoreResult<ArticlePage> {
    article_page(tx, Some(viewer), &feed_query(), page)
}

/// The newest matches (at most `:ranked`), found by the index alone and
/// newest first, with the short fields that rank them.
const SEARCH_HITS: &str = "SELECT a.id, a.title, a.description, a.tag_list FROM \
     (SELECT rowid AS id FROM article_search WHERE article_search MATCH :match \
     ORDER BY rowid DESC LIMIT :ranked) h CROSS JOIN articles a ON a.id = h.id";

/// A search: the newest matches (at most [`RANKED_MAX`]) ranked by
/// [`SearchQuery::rank`], then the page's rows read by primary key in rank
/// order.
pub(super) fn search(
    tx: &Transaction<'_>,
    viewer: Option<UserId>,
    query: &SearchQuery,
    page: Page,
) -> StoreResult<ArticlePage> {
    let mut hits = tx
        .prepare_cached(SEARCH_HITS)?
        .query_map(
            named_params! {":match": fts5_match(query), ":ranked": RANKED_MAX},
            |row| {
                // Borrowed: the short fields are scored, not kept. The tags
                // are their JSON text, whose quotes and commas only separate
                // words (only a control character's escape would add one).
                let text = |at| row.get_ref(at).and_then(|v| Ok(v.as_str_or_null()?));
                Ok(Hit {
                    id: row.get(0)?,
                    score: query.score(
                        text(1)?.unwrap_or_default(),
                        text(2)?.unwrap_or_default(),
                        text(3)?.unwrap_or_default(),
                    ),
                })
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    SearchQuery::rank(&mut hits);
    let ids = page_ids(&hits, page);
    Ok(ArticlePage {
        articles: by_ids(tx, viewer, &ids, ArticleColumns::List)?
            .into_iter()
            .map(|(_, article)| article)
            .collect(),
        articles_count: hits.len() as i64,
    })
}

/// The FTS5 query for `query`: every word, as a quoted string (so nothing
/// in it is syntax).
fn fts5_match(query: &SearchQuery) -> String {
    query.to_syntax(|word| format!("\"{}\"", word.replace('"', "\"\"")), " AND ")
}

/// Which columns [`by_ids`] reads.
#[derive(Clone, Copy)]
enum ArticleColumns {
    /// As lists show them: no body.
    List,
    /// Whole, for an anonymous reader.
    WithBody,
}

/// The articles with these ids, in the order given, each with its id; ids
/// that name no article are left out.
fn by_ids(
    conn: &Connection,
    viewer: Option<UserId>,
    ids: &[i64],
    columns: ArticleColumns,
) -> StoreResult<Vec<(i64, ArticleView)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let columns = match (columns, viewer) {
        (ArticleColumns::List, Some(_)) => ARTICLE_LIST_COLUMNS,
        (ArticleColumns::List, None) => ARTICLE_LIST_COLUMNS_ANONYMOUS,
        (ArticleColumns::WithBody, _) => ARTICLE_COLUMNS_WITH_BODY,
    };
    let sql = format!(
        "{columns}, a.id FROM json_each(:ids) page \
         CROSS JOIN articles a ON a.id = page.value CROSS JOIN users u ON u.id = a.author_id \
         ORDER BY page.key"
    );
    let ids = serde_json::to_string(ids).map_err(|e| StoreError::Backend(e.into()))?;
    let viewer = viewer.map(|v| v.0);
    let mut statement = conn.prepare_cached(&sql)?;
    let params = named(&sql, &[], &[(":ids", &ids), (":viewer", &viewer)]);
    let rows = statement
        .query_map(params.as_slice(), |row| {
            Ok((row.get::<_, i64>(13)?, article_from_row(row)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The newest `limit` articles of a list, whole: their ids from the list's
/// own index, then each row by primary key.
pub(super) fn latest(
    tx: &Transaction<'_>,
    filter: &ArticleFilter,
    limit: i64,
) -> StoreResult<Vec<FeedEntry>> {
    let query = list_query(filter);
    let sql = query.ids_sql(false);
    let zero = 0_i64;
    let ids = tx
        .prepare_cached(&sql)?
        .query_map(
            named(
                &sql,
                &query.params,
                &[(":limit", &limit), (":offset", &zero)],
            )
            .as_slice(),
            |row| row.get::<_, i64>(0),
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(by_ids(tx, None, &ids, ArticleColumns::WithBody)?
        .into_iter()
        .map(|(id, article)| FeedEntry { id, article })
        .collect())
}

pub(super) fn sitemap_blocks(conn: &Connection, block: i64) -> StoreResult<(Vec<i64>, Vec<i64>)> {
    let blocks = |table: &str| -> StoreResult<Vec<i64>> {
        let sql = blocks_sql(table, ":block");
        Ok(conn
            .prepare_cached(&sql)?
            .query_map(named_params! {":block": block}, |row| row.get(0))?
            .collect::<Result<Vec<_>, _>>()?)
    };
    Ok((blocks("articles")?, blocks("users")?))
}

pub(super) fn sitemap_articles(
    conn: &Connection,
    ids: Range<i64>,
) -> StoreResult<Vec<SitemapEntry>> {
    sitemap_rows(
        conn,
        "SELECT slug, updated_at FROM articles WHERE id >= ?1 AND id < ?2 ORDER BY id",
        ids,
    )
}

pub(super) fn sitemap_profiles(
    conn: &Connection,
    ids: Range<i64>,
) -> StoreResult<Vec<SitemapEntry>> {
    sitemap_rows(
        conn,
        "SELECT username, NULL FROM users WHERE id >= ?1 AND id < ?2 ORDER BY id",
        ids,
    )
}

fn sitemap_rows(conn: &Connection, sql: &str, ids: Range<i64>) -> StoreResult<Vec<SitemapEntry>> {
    Ok(conn
        .prepare_cached(sql)?
        .query_map([ids.start, ids.end], |row| {
            Ok(SitemapEntry {
                key: row.get(0)?,
                updated_at: row.get::<_, Option<i64>>(1)?.map(Timestamp),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn tags(conn: &Connection) -> StoreResult<Vec<String>> {
    Ok(conn
        .prepare_cached("SELECT tag FROM tag_counts ORDER BY uses DESC, tag")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<_>, _>>()?)
}

/// The SQL of one article page: `ids_sql` picks the page's ids from the
/// indexes alone (ending in `LIMIT :limit OFFSET :offset`), so flags and
/// authors are looked up for those rows only, never for every match before
/// sorting; `count_sql` counts every match.
struct PageQuery<'a> {
    /// `SELECT {id} AS id FROM {from}`, the page's ids before filtering.
    select_ids: String,
    /// The filter's conditions (`WHERE` not included), possibly none.
    conditions: Vec<String>,
    /// The column that is the article id in `select_ids`.
    id: &'static str,
    count_sql: String,
    /// The SQL key of the list's blocks (V6), when it has them.
    blocks: Option<&'static str>,
    params: Vec<(&'static str, &'a dyn ToSql)>,
}

impl PageQuery<'_> {
    /// The page's ids; `bounded` adds `id < :bound` (a deep page, found
    /// through the list's blocks).
    fn ids_sql(&self, bounded: bool) -> String {
        let mut conditions = self.conditions.clone();
        if bounded {
            conditions.push(format!("{} < :bound", self.id));
        }
        let where_sql = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        format!(
            "{}{where_sql} ORDER BY {} DESC LIMIT :limit OFFSET :offset",
            self.select_ids, self.id
        )
    }

    /// The statement that reads the page's rows for a viewer (or none).
    /// `CROSS JOIN` fixes the join order: the page first, then each row by
    /// primary key. Left to itself, SQLite (without statistics) would scan
    /// every article and probe the page through an automatic index.
    fn list_sql(&self, has_viewer: bool, bounded: bool) -> String {
        let columns = if has_viewer {
            ARTICLE_LIST_COLUMNS
        } else {
            ARTICLE_LIST_COLUMNS_ANONYMOUS
        };
        format!(
            "{columns} FROM ({}) page \
             CROSS JOIN articles a ON a.id = page.id CROSS JOIN users u ON u.id = a.author_id \
             ORDER BY a.id DESC",
            self.ids_sql(bounded)
        )
    }
}

/// From this offset on, a page of a list with blocks is found through
/// them; below it, stepping over the rows costs less than summing blocks.
/// One block's worth of ids (V6 makes SQLite's blocks 512 ids).
const SEEK_FROM: i64 = 512;

/// One page and the total count: two queries whatever the page size (three
/// for a deep page of a list with blocks), in one read transaction.
fn article_page(
    conn: &Connection,
    viewer: Option<UserId>,
    query: &PageQuery<'_>,
    page: Page,
) -> StoreResult<ArticlePage> {
    let viewer = viewer.map(|v| v.0);
    let articles_count: i64 = conn.prepare_cached(&query.count_sql)?.query_row(
        named(&query.count_sql, &query.params, &[(":viewer", &viewer)]).as_slice(),
        |row| row.get(0),
    )?;

    let mut start = (None, page.offset);
    if let Some(list_key) = query.blocks.filter(|_| page.offset >= SEEK_FROM) {
        match seek(conn, list_key, &query.params, page.offset)? {
            Some((bound, skip)) => start = (Some(bound), skip),
            None => {
                return Ok(ArticlePage {
                    articles: Vec::new(),
                    articles_count,
                })
            }
        }
    }
    let (bound, skip) = start;
    let list_sql = query.list_sql(viewer.is_some(), bound.is_some());
    let list_params = named(
        &list_sql,
        &query.params,
        &[
            (":viewer", &viewer),
            (":bound", &bound),
            (":limit", &page.limit),
            (":offset", &skip),
        ],
    );
    let articles = conn
        .prepare_cached(&list_sql)?
        .query_map(list_params.as_slice(), article_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ArticlePage {
        articles,
        articles_count,
    })
}

/// Where a deep page starts: `(bound, skip)` such that the page is the
/// rows below id `bound` after skipping `skip` of them; `None` when the
/// offset is past the end. The list's blocks (V6) are read newest first
/// and summed here until the one holding the page's first row: on SQLite a
/// row costs a step in this process, less than any window function would.
fn seek(
    conn: &Connection,
    list_key: &str,
    params: &[(&'static str, &dyn ToSql)],
    offset: i64,
) -> StoreResult<Option<(i64, i64)>> {
    let sql = format!(
        "SELECT block_start, sum(n) FROM list_blocks WHERE list = {list_key} \
         GROUP BY block_start ORDER BY block_start DESC"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let mut rows = statement.query(named(&sql, params, &[]).as_slice())?;
    let (mut before, mut upper) = (0_i64, i64::MAX);
    while let Some(row) = rows.next()? {
        let (start, n): (i64, i64) = (row.get(0)?, row.get(1)?);
        if before + n > offset {
            return Ok(Some((upper, offset - before)));
        }
        before += n;
        upper = start;
    }
    Ok(None)
}

/// The parameters among `params` and `extra` that `sql` names (SQLite
/// refuses a named parameter the statement does not have).
fn named<'p>(
    sql: &str,
    params: &[(&'static str, &'p dyn ToSql)],
    extra: &[(&'static str, &'p dyn ToSql)],
) -> Vec<(&'static str, &'p dyn ToSql)> {
    params
        .iter()
        .chain(extra)
        .copied()
        .filter(|(name, _)| sql.contains(name))
        .collect()
}

/// The page query for `GET /articles` with these filters. Only the filters
/// that are set appear in the SQL, so each of the eight combinations gets
/// its own cached statement and plan.
///
/// The page is driven by the narrowest index a filter offers (the tag's
/// rows, else the fan's favorites, else every article), joined in a fixed
/// order and checked against the other filters row by row. Filters written
/// as `id IN (SELECT ...)` instead make SQLite build a Bloom filter sized by
/// its guess of the table (about 1 MiB without statistics) on every run.
///
/// A single filter, or none, is counted without visiting articles: the
/// counts are kept by triggers in the transactions that change them (V2's
/// tag_counts, V6's list_counts).
fn list_query(filter: &ArticleFilter) -> PageQuery<'_> {
    const FAN: &str = "(SELECT id FROM users WHERE username = :favorited COLLATE NOCASE)";
    const AUTHOR: &str = "(SELECT id FROM users WHERE username = :author COLLATE NOCASE)";
    let mut params: Vec<(&'static str, &dyn ToSql)> = Vec::new();
    let mut conditions: Vec<String> = Vec::new();
    let (mut from, id) = match (&filter.tag, &filter.favorited) {
        (Some(_), _) => ("article_tags t".to_owned(), "t.article_id"),
        (None, Some(_)) => ("favorites fv".to_owned(), "fv.article_id"),
        (None, None) => ("articles a".to_owned(), "a.id"),
    };
    if let Some(tag) = &filter.tag {
        conditions.push("t.tag = :tag".into());
        params.push((":tag", tag));
    }
    if let Some(favorited) = &filter.favorited {
        conditions.push(if filter.tag.is_some() {
            format!("EXISTS (SELECT 1 FROM favorites fv WHERE fv.user_id = {FAN} AND fv.article_id = {id})")
        } else {
            format!("fv.user_id = {FAN}")
        });
        params.push((":favorited", favorited));
    }
    if let Some(author) = &filter.author {
        if id != "a.id" {
            from.push_str(&format!(" CROSS JOIN articles a ON a.id = {id}"));
        }
        conditions.push(format!("a.author_id = {AUTHOR}"));
        params.push((":author", author));
    }
    let (count_sql, blocks) = match (&filter.tag, &filter.author, &filter.favorited) {
        (None, None, None) => (list_count("'all'"), Some("'all'")),
        (Some(_), None, None) => (
            "SELECT coalesce((SELECT uses FROM tag_counts WHERE tag = :tag), 0)".to_owned(),
            Some("'tag:' || :tag"),
        ),
        (None, Some(_), None) => (list_count(&format!("'author:' || {AUTHOR}")), None),
        (None, None, Some(_)) => (list_count(&format!("'favorited:' || {FAN}")), None),
        _ => {
            let where_sql = format!(" WHERE {}", conditions.join(" AND "));
            (format!("SELECT count(*) FROM {from}{where_sql}"), None)
        }
    };
    PageQuery {
        select_ids: format!("SELECT {id} AS id FROM {from}"),
        conditions,
        id,
        count_sql,
        blocks,
        params,
    }
}

/// The count of the list whose key is the SQL expression `list_key`.
fn list_count(list_key: &str) -> String {
    format!("SELECT coalesce(sum(n), 0) FROM list_counts WHERE list = {list_key}")
}

/// The page query for the feed of `:viewer`: the followed authors first,
/// then their articles through `articles_author`. Its count sums the
/// followed authors' counts, one lookup per followed author.
fn feed_query() -> PageQuery<'static> {
    PageQuery {
        select_ids:
            "SELECT a.id FROM follows f CROSS JOIN articles a ON a.author_id = f.followee_id"
                .to_owned(),
        conditions: vec!["f.follower_id = :viewer".to_owned()],
        id: "a.id",
        count_sql: "SELECT coalesce(sum(c.n), 0) FROM follows f \
             CROSS JOIN list_counts c ON c.list = 'author:' || f.followee_id \
             WHERE f.follower_id = :viewer"
            .to_owned(),
        blocks: None,
        params: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::super::SqliteStore;
    use super::*;
    use crate::store::{PoolOptions, Store};

    fn migrated_store(folder: &Path) -> SqliteStore {
        let options = PoolOptions {
            pool_size: 1,
            pool_timeout_ms: 1000,
            startup_timeout_secs: 0,
            statement_timeout: Duration::from_secs(15),
        };
        let store = SqliteStore::open(&folder.join("conduit.db"), &options).expect("open");
        store.migrate().expect("migrate");
        store
    }

    /// Every filter combination and the feed, as (name, filter); `None` is the feed.
    fn page_queries() -> Vec<(&'static str, Option<ArticleFilter>)> {
        let name = |s: &str| Some(s.to_owned());
        let filter = |tag, author, favorited| ArticleFilter {
            tag,
            author,
            favorited,
        };
        vec![
            ("all", Some(filter(None, None, None))),
            ("tag", Some(filter(name("t"), None, None))),
            ("author", Some(filter(None, name("a"), None))),
            ("favorited", Some(filter(None, None, name("f")))),
            ("tag+author", Some(filter(name("t"), name("a"), None))),
            ("all three", Some(filter(name("t"), name("a"), name("f")))),
            ("feed", None),
        ]
    }

    fn plan(conn: &Connection, sql: &str, params: &[(&str, &dyn ToSql)]) -> String {
        let mut statement = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let details = statement
            .query_map(params, |row| row.get::<_, String>(3))
            .expect("plan")
            .collect::<Result<Vec<_>, _>>()
            .expect("plan rows");
        details.join("\n")
    }

    #[test]
    fn every_article_page_reads_its_rows_by_primary_key_and_never_builds_an_index() {
        let folder = tempfile::tempdir().unwrap();
        let store = migrated_store(folder.path());
        let conn = store.conn().unwrap();
        for (name, filter) in page_queries() {
            let query = match &filter {
                Some(filter) => list_query(filter),
                None => feed_query(),
            };
            for (has_viewer, bounded) in
                [(false, false), (true, false), (false, true), (true, true)]
            {
                let list_sql = query.list_sql(has_viewer, bounded);
                let viewer = has_viewer.then_some(1_i64);
                let mut all: Vec<(&str, &dyn ToSql)> = query.params.clone();
                all.extend([
                    (":viewer", &viewer as &dyn ToSql),
                    (":bound", &1000_i64),
                    (":limit", &20_i64),
                    (":offset", &0_i64),
                ]);
                // Bind what each statement names, as `article_page` does.
                let bound = |sql: &str| -> Vec<(&str, &dyn ToSql)> {
                    all.iter()
                        .copied()
                        .filter(|(n, _)| sql.contains(n))
                        .collect()
                };
                let count_plan = plan(&conn, &query.count_sql, &bound(&query.count_sql));
                let list_plan = plan(&conn, &list_sql, &bound(&list_sql));
                for wanted in [
                    "SEARCH a USING INTEGER PRIMARY KEY",
                    "SEARCH u USING INTEGER PRIMARY KEY",
                ] {
                    assert!(
                        list_plan.contains(wanted),
                        "{name}: {wanted} in\n{list_plan}"
                    );
                }
                for plan in [&list_plan, &count_plan] {
                    for unwanted in ["AUTOMATIC", "BLOOM FILTER"] {
                        assert!(!plan.contains(unwanted), "{name}: {unwanted} in\n{plan}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_cached_page_statement_is_not_prepared_again_when_the_page_changes() {
        let folder = tempfile::tempdir().unwrap();
        let store = migrated_store(folder.path());
        let filter = ArticleFilter {
            tag: None,
            author: None,
            favorited: None,
        };
        for (limit, offset) in [(20, 0), (10, 5), (3, 40)] {
            store
                .list_articles(None, &filter, Page { limit, offset })
                .unwrap();
        }
        // One connection, so this is the statement the three calls used.
        let conn = store.conn().unwrap();
        let statement = conn
            .prepare_cached(&list_query(&filter).list_sql(false, false))
            .unwrap();
        assert_eq!(
            statement.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "binding another LIMIT must not re-plan the statement"
        );
        assert_eq!(statement.get_status(rusqlite::StatementStatus::Run), 3);
    }
}
