//! Comments on SQLite: adding, listing and deleting an article's comments.

use rusqlite::{params, Connection, Transaction};

use super::{articles, found, users};
use crate::domain::views::{CommentView, Profile, Timestamp};
use crate::domain::UserId;
use crate::store::{Entity, StoreError, StoreResult};

pub(super) fn add(
    tx: &Transaction<'_>,
    author: UserId,
    slug: &str,
    body: &str,
) -> StoreResult<CommentView> {
    let (article_id, _) = articles::ids(tx, slug)?;
    let now = Timestamp::now().0;
    tx.prepare_cached(
        "INSERT INTO comments (article_id, author_id, body, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?4)",
    )?
    .execute(params![article_id, author.0, body, now])?;
    let id = tx.last_insert_rowid();
    let user = users::by_id(tx, author)?;
    Ok(CommentView {
        id,
        created_at: Timestamp(now),
        updated_at: Timestamp(now),
        body: body.to_owned(),
        author: Profile {
            username: user.username,
            bio: user.bio,
            image: user.image,
            following: false,
        },
    })
}

pub(super) fn list(
    conn: &Connection,
    viewer: Option<UserId>,
    slug: &str,
) -> StoreResult<Vec<CommentView>> {
    let viewer = viewer.map(|v| v.0);
    // One statement; only an empty answer needs a second look, to tell
    // an article without comments from an unknown slug.
    let comments = conn
        .prepare_cached(
            "SELECT c.id, c.created_at, c.updated_at, c.body, u.username, u.bio, u.image, \
             EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = ?2 AND f.followee_id = c.author_id) \
             FROM comments c JOIN users u ON u.id = c.author_id \
             WHERE c.article_id = (SELECT id FROM articles WHERE slug = ?1) ORDER BY c.id",
        )?
        .query_map(params![slug, viewer], |row| {
            Ok(CommentView {
                id: row.get(0)?,
                created_at: Timestamp(row.get(1)?),
                updated_at: Timestamp(row.get(2)?),
                body: row.get(3)?,
                author: Profile {
                    username: row.get(4)?,
                    bio: row.get(5)?,
                    image: row.get(6)?,
                    following: row.get(7)?,
                },
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    if comments.is_empty() {
        articles::ids(conn, slug)?;
    }
    Ok(comments)
}

pub(super) fn delete(tx: &Transaction<'_>, user: UserId, slug: &str, id: i64) -> StoreResult<()> {
    let (article_id, _) = articles::ids(tx, slug)?;
    let author: i64 = found(
        tx.prepare_cached("SELECT author_id FROM comments WHERE id = ?1 AND article_id = ?2")?
            .query_row(params![id, article_id], |r| r.get(0)),
        Entity::Comment,
    )?;
    if author != user.0 {
        return Err(StoreError::Forbidden(Entity::Comment));
    }
    tx.prepare_cached("DELETE FROM comments WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

pub(super) fn check_article_exists(conn: &Connection, slug: &str) -> StoreResult<()> {
    articles::ids(conn, slug).map(|_| ())
}
