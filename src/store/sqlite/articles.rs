//! Single articles on SQLite: the article row and its columns, writing and
//! reading one article, who may edit it, favorites and an article's tags.

use rusqlite::{named_params, params, Connection, Row, Transaction};

use super::found;
use crate::domain::article::{ArticleChanges, NewArticle};
use crate::domain::views::{ArticleView, Profile, Timestamp};
use crate::domain::UserId;
use crate::store::{Entity, StoreError, StoreResult};

// All four column lists are here, beside `article_from_row`, which reads
// each of them by position.

/// The columns of an [`ArticleView`], over `articles a JOIN users u`;
/// `:viewer` is the reader's id or NULL. Lists leave the body out (`NULL`).
macro_rules! article_columns {
    ($body:literal) => {
        concat!(
            "SELECT a.slug, a.title, a.description, ",
            $body,
            ", a.created_at, a.updated_at, a.favorites_count, \
             EXISTS (SELECT 1 FROM favorites f WHERE f.user_id = :viewer AND f.article_id = a.id), \
             u.username, u.bio, u.image, \
             EXISTS (SELECT 1 FROM follows fo WHERE fo.follower_id = :viewer AND fo.followee_id = a.author_id), \
             a.tag_list"
        )
    };
}

const ARTICLE_BY_SLUG: &str = concat!(
    article_columns!("a.body"),
    " FROM articles a JOIN users u ON u.id = a.author_id WHERE a.slug = :slug"
);
const ARTICLE_BY_ID: &str = concat!(
    article_columns!("a.body"),
    " FROM articles a JOIN users u ON u.id = a.author_id WHERE a.id = :id"
);
pub(super) const ARTICLE_LIST_COLUMNS: &str = article_columns!("NULL");
/// Whole articles, bodies included (feeds), over the same joins as lists.
pub(super) const ARTICLE_COLUMNS_WITH_BODY: &str = article_columns!("a.body");
/// For anonymous readers the flags are known to be false: no lookups.
pub(super) const ARTICLE_LIST_COLUMNS_ANONYMOUS: &str =
    "SELECT a.slug, a.title, a.description, NULL, \
     a.created_at, a.updated_at, a.favorites_count, 0, u.username, u.bio, u.image, 0, a.tag_list";

pub(super) fn article_from_row(row: &Row<'_>) -> rusqlite::Result<ArticleView> {
    let tags: String = row.get(12)?;
    Ok(ArticleView {
        slug: row.get(0)?,
        title: row.get(1)?,
        description: row.get(2)?,
        body: row.get(3)?,
        created_at: Timestamp(row.get(4)?),
        updated_at: Timestamp(row.get(5)?),
        favorites_count: row.get(6)?,
        favorited: row.get(7)?,
        author: Profile {
            username: row.get(8)?,
            bio: row.get(9)?,
            image: row.get(10)?,
            following: row.get(11)?,
        },
        tag_list: serde_json::from_str(&tags).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(12, rusqlite::types::Type::Text, Box::new(e))
        })?,
    })
}

fn by_id(conn: &Connection, viewer: Option<UserId>, id: i64) -> StoreResult<ArticleView> {
    let viewer = viewer.map(|v| v.0);
    Ok(conn.prepare_cached(ARTICLE_BY_ID)?.query_row(
        named_params! {":viewer": viewer, ":id": id},
        article_from_row,
    )?)
}

/// `(id, author_id)` of the article with `slug`.
pub(super) fn ids(conn: &Connection, slug: &str) -> StoreResult<(i64, i64)> {
    found(
        conn.prepare_cached("SELECT id, author_id FROM articles WHERE slug = ?1")?
            .query_row([slug], |row| Ok((row.get(0)?, row.get(1)?))),
        Entity::Article,
    )
}

/// The article's id, if `editor` wrote it.
fn editable(conn: &Connection, editor: UserId, slug: &str) -> StoreResult<i64> {
    let (id, author) = ids(conn, slug)?;
    if author != editor.0 {
        return Err(StoreError::Forbidden(Entity::Article));
    }
    Ok(id)
}

/// The denormalized `articles.tag_list` (see `V2__read_models.sql`).
fn tag_list_json(tags: &[String]) -> String {
    serde_json::to_string(tags).expect("a list of strings serializes")
}

fn insert_tags(conn: &Connection, article_id: i64, tags: &[String]) -> StoreResult<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO article_tags (article_id, tag, position) VALUES (?1, ?2, ?3)",
    )?;
    for (position, tag) in tags.iter().enumerate() {
        insert.execute(params![article_id, tag, position as i64])?;
    }
    Ok(())
}

pub(super) fn insert(
    tx: &Transaction<'_>,
    author: UserId,
    slug: &str,
    article: &NewArticle,
) -> StoreResult<ArticleView> {
    let now = Timestamp::now().0;
    tx.prepare_cached(
        "INSERT INTO articles (slug, author_id, title, description, body, created_at, updated_at, tag_list) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
    )?
    .execute(params![
        slug,
        author.0,
        article.title,
        article.description,
        article.body,
        now,
        tag_list_json(&article.tags)
    ])?;
    let id = tx.last_insert_rowid();
    insert_tags(tx, id, &article.tags)?;
    by_id(tx, Some(author), id)
}

pub(super) fn get(
    conn: &Connection,
    viewer: Option<UserId>,
    slug: &str,
) -> StoreResult<ArticleView> {
    let viewer = viewer.map(|v| v.0);
    found(
        conn.prepare_cached(ARTICLE_BY_SLUG)?.query_row(
            named_params! {":viewer": viewer, ":slug": slug},
            article_from_row,
        ),
        Entity::Article,
    )
}

pub(super) fn update(
    tx: &Transaction<'_>,
    editor: UserId,
    slug: &str,
    changes: &ArticleChanges,
    new_slug: Option<&str>,
) -> StoreResult<ArticleView> {
    let id = editable(tx, editor, slug)?;
    tx.prepare_cached(
        "UPDATE articles SET slug = coalesce(?2, slug), title = coalesce(?3, title), \
         description = coalesce(?4, description), body = coalesce(?5, body), updated_at = ?6 \
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        new_slug,
        changes.title,
        changes.description,
        changes.body,
        Timestamp::now().0
    ])?;
    if let Some(tags) = &changes.tags {
        tx.prepare_cached("DELETE FROM article_tags WHERE article_id = ?1")?
            .execute([id])?;
        insert_tags(tx, id, tags)?;
        tx.prepare_cached("UPDATE articles SET tag_list = ?2 WHERE id = ?1")?
            .execute(params![id, tag_list_json(tags)])?;
    }
    by_id(tx, Some(editor), id)
}

pub(super) fn delete(tx: &Transaction<'_>, editor: UserId, slug: &str) -> StoreResult<()> {
    let id = editable(tx, editor, slug)?;
    tx.prepare_cached("DELETE FROM articles WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

pub(super) fn check_editor(conn: &Connection, editor: UserId, slug: &str) -> StoreResult<()> {
    editable(conn, editor, slug).map(|_| ())
}

pub(super) fn favorite(tx: &Transaction<'_>, user: UserId, slug: &str) -> StoreResult<ArticleView> {
    let (id, _) = ids(tx, slug)?;
    let added = tx
        .prepare_cached(
            "INSERT INTO favorites (user_id, article_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        )?
        .execute(params![user.0, id])?;
    if added > 0 {
        tx.prepare_cached(
            "UPDATE articles SET favorites_count = favorites_count + 1 WHERE id = ?1",
        )?
        .execute([id])?;
    }
    by_id(tx, Some(user), id)
}

pub(super) fn unfavorite(
    tx: &Transaction<'_>,
    user: UserId,
    slug: &str,
) -> StoreResult<ArticleView> {
    let (id, _) = ids(tx, slug)?;
    let removed = tx
        .prepare_cached("DELETE FROM favorites WHERE user_id = ?1 AND article_id = ?2")?
        .execute(params![user.0, id])?;
    if removed > 0 {
        tx.prepare_cached(
            "UPDATE articles SET favorites_count = favorites_count - 1 WHERE id = ?1",
        )?
        .execute([id])?;
    }
    by_id(tx, Some(user), id)
}
