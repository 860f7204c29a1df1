//! Comments on PostgreSQL: adding, listing and deleting an article's
//! comments.

use postgres::{Client, Transaction};

use super::{articles, from_time, to_time, viewer_id, Session};
use crate::domain::views::{CommentView, Profile, Timestamp};
use crate::domain::UserId;
use crate::store::{Entity, StoreError, StoreResult};

pub(super) fn add(
    s: &mut Session<'_, Transaction<'_>>,
    author: UserId,
    slug: &str,
    body: &str,
) -> StoreResult<CommentView> {
    let (article_id, _) = articles::ids(s, slug)?;
    let now = Timestamp::now();
    let row = s.one(
        "WITH c AS (INSERT INTO comments (article_id, author_id, body, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4) RETURNING id, author_id) \
         SELECT c.id, u.username, u.bio, u.image FROM c JOIN users u ON u.id = c.author_id",
        &[&article_id, &author.0, &body, &to_time(now)],
    )?;
    Ok(CommentView {
        id: row.get(0),
        created_at: now,
        updated_at: now,
        body: body.to_owned(),
        author: Profile {
            username: row.get(1),
            bio: row.get(2),
            image: row.get(3),
            following: false,
        },
    })
}

pub(super) fn list(
    s: &mut Session<'_, Client>,
    viewer: Option<UserId>,
    slug: &str,
) -> StoreResult<Vec<CommentView>> {
    // One statement; only an empty answer needs a second look, to
    // tell an article without comments from an unknown slug.
    let rows = s.query(
        "SELECT c.id, c.created_at, c.updated_at, c.body, u.username, u.bio, u.image, \
         EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $2 AND f.followee_id = c.author_id) \
         FROM comments c JOIN users u ON u.id = c.author_id \
         WHERE c.article_id = (SELECT id FROM articles WHERE slug = $1) ORDER BY c.id",
        &[&slug, &viewer_id(viewer)],
    )?;
    if rows.is_empty() {
        articles::ids(s, slug)?;
    }
    Ok(rows
        .iter()
        .map(|row| CommentView {
            id: row.get(0),
            created_at: from_time(row.get(1)),
            updated_at: from_time(row.get(2)),
            body: row.get(3),
            author: Profile {
                username: row.get(4),
                bio: row.get(5),
                image: row.get(6),
                following: row.get(7),
            },
        })
        .collect())
}

pub(super) fn delete(
    s: &mut Session<'_, Transaction<'_>>,
    user: UserId,
    slug: &str,
    id: i64,
) -> StoreResult<()> {
    let (article_id, _) = articles::ids(s, slug)?;
    let author: i64 = s
        .found(
            "SELECT author_id FROM comments WHERE id = $1 AND article_id = $2",
            &[&id, &article_id],
            Entity::Comment,
        )?
        .get(0);
    if author != user.0 {
        return Err(StoreError::Forbidden(Entity::Comment));
    }
    s.execute("DELETE FROM comments WHERE id = $1", &[&id])?;
    Ok(())
}

pub(super) fn check_article_exists(s: &mut Session<'_, Client>, slug: &str) -> StoreResult<()> {
    articles::ids(s, slug).map(|_| ())
}
