//! Single articles on PostgreSQL: the article row and its columns, writing
//! and reading one article, who may edit it, favorites and an article's tags.

use postgres::{Client, GenericClient, Row, Transaction};

use super::{from_time, to_time, viewer_id, Session};
use crate::domain::article::{ArticleChanges, NewArticle};
use crate::domain::views::{ArticleView, Profile, Timestamp};
use crate::domain::UserId;
use crate::store::{Entity, StoreError, StoreResult};

// All column lists are here, beside `article_from_row`, which reads each of
// them by position.

/// The columns of an [`ArticleView`]; `$1` is the reader's id or NULL.
macro_rules! article_columns {
    ($body:literal) => {
        concat!(
            "SELECT a.slug, a.title, a.description, ",
            $body,
            ", a.created_at, a.updated_at, a.favorites_count, \
             EXISTS (SELECT 1 FROM favorites f WHERE f.user_id = $1 AND f.article_id = a.id), \
             u.username, u.bio, u.image, \
             EXISTS (SELECT 1 FROM follows fo WHERE fo.follower_id = $1 AND fo.followee_id = a.author_id), \
             a.tag_list"
        )
    };
}

/// The author of article `a`, looked up by primary key for each article.
///
/// Joins are written `CROSS JOIN LATERAL (... OFFSET 0)` so that each row is
/// fetched through its index, one lookup per row. Prepared statements run on
/// generic plans, which assume `LIMIT $n` keeps a tenth of the table; with a
/// plain join PostgreSQL then hashed every article (and every user) to
/// return a 20-row page. `OFFSET 0` keeps the planner from flattening the
/// subquery back into such a join.
macro_rules! author_of_a {
    () => {
        "(SELECT username, bio, image FROM users WHERE id = a.author_id OFFSET 0) u"
    };
}

/// `author_of_a!` for SQL built at run time (the page queries).
pub(super) const AUTHOR_OF_A: &str = author_of_a!();

const ARTICLE_BY_SLUG: &str = concat!(
    article_columns!("a.body"),
    " FROM articles a CROSS JOIN LATERAL ",
    author_of_a!(),
    " WHERE a.slug = $2"
);
const ARTICLE_BY_ID: &str = concat!(
    article_columns!("a.body"),
    " FROM articles a CROSS JOIN LATERAL ",
    author_of_a!(),
    " WHERE a.id = $2"
);
pub(super) const ARTICLE_LIST_COLUMNS: &str = article_columns!("NULL::text");
/// Whole articles, bodies included (feeds), for page queries.
pub(super) const ARTICLE_COLUMNS_WITH_BODY: &str = article_columns!("a.body");
/// For anonymous readers the flags are known to be false: no lookups
/// (`$1` still appears, typed, so parameters keep their numbers).
pub(super) const ARTICLE_LIST_COLUMNS_ANONYMOUS: &str = "SELECT a.slug, a.title, a.description, NULL::text, \
     a.created_at, a.updated_at, a.favorites_count, $1::bigint IS NOT NULL, u.username, u.bio, u.image, \
     false, a.tag_list";

/// How many columns [`article_from_row`] reads.
pub(super) const ARTICLE_COLUMNS: usize = 13;

pub(super) fn article_from_row(row: &Row) -> ArticleView {
    ArticleView {
        slug: row.get(0),
        title: row.get(1),
        description: row.get(2),
        body: row.get(3),
        created_at: from_time(row.get(4)),
        updated_at: from_time(row.get(5)),
        favorites_count: row.get(6),
        favorited: row.get(7),
        author: Profile {
            username: row.get(8),
            bio: row.get(9),
            image: row.get(10),
            following: row.get(11),
        },
        tag_list: row.get(12),
    }
}

fn by_id<C: GenericClient>(
    s: &mut Session<'_, C>,
    viewer: Option<UserId>,
    id: i64,
) -> StoreResult<ArticleView> {
    Ok(article_from_row(
        &s.one(ARTICLE_BY_ID, &[&viewer_id(viewer), &id])?,
    ))
}

/// `(id, author_id)` of the article with `slug`.
pub(super) fn ids<C: GenericClient>(s: &mut Session<'_, C>, slug: &str) -> StoreResult<(i64, i64)> {
    let row = s.found(
        "SELECT id, author_id FROM articles WHERE slug = $1",
        &[&slug],
        Entity::Article,
    )?;
    Ok((row.get(0), row.get(1)))
}

/// The article's id, if `editor` wrote it.
fn editable<C: GenericClient>(
    s: &mut Session<'_, C>,
    editor: UserId,
    slug: &str,
) -> StoreResult<i64> {
    let (id, author) = ids(s, slug)?;
    if author != editor.0 {
        return Err(StoreError::Forbidden(Entity::Article));
    }
    Ok(id)
}

fn insert_tags<C: GenericClient>(
    s: &mut Session<'_, C>,
    article_id: i64,
    tags: &[String],
) -> StoreResult<()> {
    if tags.is_empty() {
        return Ok(());
    }
    // One statement for all tags: unnest the array with its positions.
    s.execute(
        "INSERT INTO article_tags (article_id, tag, position) \
         SELECT $1, tag, (ordinality - 1)::integer FROM unnest($2::text[]) WITH ORDINALITY AS t(tag, ordinality)",
        &[&article_id, &tags],
    )?;
    Ok(())
}

pub(super) fn insert(
    s: &mut Session<'_, Transaction<'_>>,
    author: UserId,
    slug: &str,
    article: &NewArticle,
) -> StoreResult<ArticleView> {
    let now = to_time(Timestamp::now());
    let id: i64 = s
        .one(
            "INSERT INTO articles (slug, author_id, title, description, body, created_at, updated_at, tag_list) \
             VALUES ($1, $2, $3, $4, $5, $6, $6, $7) RETURNING id",
            &[
                &slug,
                &author.0,
                &article.title,
                &article.description,
                &article.body,
                &now,
                &article.tags,
            ],
        )?
        .get(0);
    insert_tags(s, id, &article.tags)?;
    by_id(s, Some(author), id)
}

pub(super) fn get(
    s: &mut Session<'_, Client>,
    viewer: Option<UserId>,
    slug: &str,
) -> StoreResult<ArticleView> {
    Ok(article_from_row(&s.found(
        ARTICLE_BY_SLUG,
        &[&viewer_id(viewer), &slug],
        Entity::Article,
    )?))
}

pub(super) fn update(
    s: &mut Session<'_, Transaction<'_>>,
    editor: UserId,
    slug: &str,
    changes: &ArticleChanges,
    new_slug: Option<&str>,
) -> StoreResult<ArticleView> {
    let id = editable(s, editor, slug)?;
    s.execute(
        "UPDATE articles SET slug = coalesce($2, slug), title = coalesce($3, title), \
         description = coalesce($4, description), body = coalesce($5, body), updated_at = $6 \
         WHERE id = $1",
        &[
            &id,
            &new_slug,
            &changes.title,
            &changes.description,
            &changes.body,
            &to_time(Timestamp::now()),
        ],
    )?;
    if let Some(tags) = &changes.tags {
        s.execute("DELETE FROM article_tags WHERE article_id = $1", &[&id])?;
        insert_tags(s, id, tags)?;
        s.execute(
            "UPDATE articles SET tag_list = $2 WHERE id = $1",
            &[&id, tags],
        )?;
    }
    by_id(s, Some(editor), id)
}

pub(super) fn delete(
    s: &mut Session<'_, Transaction<'_>>,
    editor: UserId,
    slug: &str,
) -> StoreResult<()> {
    let id = editable(s, editor, slug)?;
    s.execute("DELETE FROM articles WHERE id = $1", &[&id])?;
    Ok(())
}

pub(super) fn check_editor(
    s: &mut Session<'_, Client>,
    editor: UserId,
    slug: &str,
) -> StoreResult<()> {
    editable(s, editor, slug).map(|_| ())
}

pub(super) fn favorite(
    s: &mut Session<'_, Transaction<'_>>,
    user: UserId,
    slug: &str,
) -> StoreResult<ArticleView> {
    let (id, _) = ids(s, slug)?;
    let added = s.execute(
        "INSERT INTO favorites (user_id, article_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&user.0, &id],
    )?;
    if added > 0 {
        s.execute(
            "UPDATE articles SET favorites_count = favorites_count + 1 WHERE id = $1",
            &[&id],
        )?;
    }
    by_id(s, Some(user), id)
}

pub(super) fn unfavorite(
    s: &mut Session<'_, Transaction<'_>>,
    user: UserId,
    slug: &str,
) -> StoreResult<ArticleView> {
    let (id, _) = ids(s, slug)?;
    let removed = s.execute(
        "DELETE FROM favorites WHERE user_id = $1 AND article_id = $2",
        &[&user.0, &id],
    )?;
    if removed > 0 {
        s.execute(
            "UPDATE articles SET favorites_count = favorites_count - 1 WHERE id = $1",
            &[&id],
        )?;
    }
    by_id(s, Some(user), id)
}
