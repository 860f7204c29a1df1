//! The SQLite backend: rusqlite (bundled SQLite, so the binary needs no
//! system library) pooled with r2d2.
//!
//! Every connection runs in WAL mode with foreign keys on and a busy
//! timeout; writes take the lock up front (`BEGIN IMMEDIATE`) so two writers
//! never deadlock upgrading a read lock. Statements are prepared once per
//! connection through rusqlite's statement cache.

use std::path::Path;
use std::time::Duration;

use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::config::DbConfig;
use rusqlite::{
    named_params, params, Connection, ErrorCode, OptionalExtension, Row, ToSql, Transaction,
    TransactionBehavior,
};

use super::migrate;
use super::{AppliedMigration, PoolOptions, PoolState, Store, StoreError, StoreResult, UniqueKey};
use crate::domain::article::{ArticleChanges, ArticleFilter, NewArticle, Page};
use crate::domain::user::{NewUser, UserChanges};
use crate::domain::views::{ArticlePage, ArticleView, CommentView, Profile, Timestamp, UserRecord};
use crate::domain::UserId;

/// How long a connection waits on another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Virtual machine steps between two looks at the clock while a statement
/// runs: about 0.1 ms of work, so the clock costs well under 1 %.
const PROGRESS_STEPS: i32 = 10_000;

pub struct SqliteStore {
    pool: Pool<SqliteConnectionManager>,
    statement_timeout: Duration,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file. The parent folder must
    /// exist. Fails with a one-line reason when the file cannot be opened.
    pub fn open(path: &Path, options: &PoolOptions) -> Result<Self, String> {
        // Fail fast with SQLite's own reason; the pool would retry until
        // its checkout timeout and then report only that.
        Connection::open(path)
            .map_err(|e| format!("cannot open SQLite database {}: {e}", path.display()))?;
        let manager = SqliteConnectionManager::file(path).with_init(|conn| {
            conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.set_prepared_statement_cache_capacity(64);
            // Without the planner stability guarantee, SQLite plans around
            // the bound value of `LIMIT ?` and so re-prepares a cached
            // statement every time it is bound: cached lists were parsed
            // and planned on every request.
            conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
            // NORMAL in WAL mode loses no committed transaction when the
            // process dies; only an OS crash can drop the last ones.
            // Reads map the file instead of copying pages into each
            // connection's cache (WAL frames are still read normally).
            conn.execute_batch(
                "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA mmap_size = 268435456;",
            )
        });
        let pool = Pool::builder()
            .max_size(options.pool_size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_millis(options.pool_timeout_ms))
            .build(manager)
            .map_err(|e| format!("cannot open SQLite database {}: {e}", path.display()))?;
        Ok(SqliteStore {
            pool,
            statement_timeout: options.statement_timeout,
        })
    }

    /// A pooled connection whose statements are interrupted once it has
    /// been held for `statement_timeout`.
    fn conn(&self) -> StoreResult<PooledConnection<SqliteConnectionManager>> {
        let conn = super::checkout(&self.pool)?;
        let deadline = std::time::Instant::now() + self.statement_timeout;
        conn.progress_handler(
            PROGRESS_STEPS,
            Some(move || std::time::Instant::now() >= deadline),
        );
        Ok(conn)
    }

    /// Runs `f` in a write transaction and commits it.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    /// Runs `f` in a read transaction, so its queries see one snapshot.
    fn read<T>(&self, f: impl FnOnce(&Transaction<'_>) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.conn()?;
        let tx = conn.transaction()?;
        f(&tx)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
            rusqlite::Error::SqliteFailure(failure, message) => match failure.code {
                ErrorCode::ConstraintViolation => {
                    let message = message.as_deref().unwrap_or("");
                    if message.contains("users.email_key") {
                        StoreError::Conflict(UniqueKey::Email)
                    } else if message.contains("users.username") {
                        StoreError::Conflict(UniqueKey::Username)
                    } else if message.contains("articles.slug") {
                        StoreError::Conflict(UniqueKey::Slug)
                    } else {
                        StoreError::Backend(e.to_string())
                    }
                }
                ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::OperationInterrupted => StoreError::Unavailable(e.to_string()),
                _ => StoreError::Backend(e.to_string()),
            },
            _ => StoreError::Backend(e.to_string()),
        }
    }
}

// ---- read models -----------------------------------------------------------

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
const ARTICLE_LIST_COLUMNS: &str = article_columns!("NULL");
/// For anonymous readers the flags are known to be false: no lookups.
const ARTICLE_LIST_COLUMNS_ANONYMOUS: &str = "SELECT a.slug, a.title, a.description, NULL, \
     a.created_at, a.updated_at, a.favorites_count, 0, u.username, u.bio, u.image, 0, a.tag_list";

fn article_from_row(row: &Row<'_>) -> rusqlite::Result<ArticleView> {
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

fn article_by_id(conn: &Connection, viewer: Option<UserId>, id: i64) -> StoreResult<ArticleView> {
    let viewer = viewer.map(|v| v.0);
    Ok(conn.prepare_cached(ARTICLE_BY_ID)?.query_row(
        named_params! {":viewer": viewer, ":id": id},
        article_from_row,
    )?)
}

const USER_COLUMNS: &str =
    "SELECT id, username, email, bio, image, password_hash, credential_version FROM users";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: UserId(row.get(0)?),
        username: row.get(1)?,
        email: row.get(2)?,
        bio: row.get(3)?,
        image: row.get(4)?,
        password_hash: row.get(5)?,
        credential_version: row.get(6)?,
    })
}

fn user_by_id(conn: &Connection, id: UserId) -> StoreResult<UserRecord> {
    Ok(conn
        .prepare_cached(&format!("{USER_COLUMNS} WHERE id = ?1"))?
        .query_row([id.0], user_from_row)?)
}

/// `(id, username, bio, image)` of the user named `username`, any case.
fn user_by_name(conn: &Connection, username: &str) -> StoreResult<(i64, Profile)> {
    Ok(conn
        .prepare_cached(
            "SELECT id, username, bio, image FROM users WHERE username = ?1 COLLATE NOCASE",
        )?
        .query_row([username], |row| {
            Ok((
                row.get(0)?,
                Profile {
                    username: row.get(1)?,
                    bio: row.get(2)?,
                    image: row.get(3)?,
                    following: false,
                },
            ))
        })?)
}

/// `(id, author_id)` of the article with `slug`.
fn article_ids(conn: &Connection, slug: &str) -> StoreResult<(i64, i64)> {
    Ok(conn
        .prepare_cached("SELECT id, author_id FROM articles WHERE slug = ?1")?
        .query_row([slug], |row| Ok((row.get(0)?, row.get(1)?)))?)
}

/// The article's id, if `editor` wrote it.
fn editable_article(conn: &Connection, editor: UserId, slug: &str) -> StoreResult<i64> {
    let (id, author) = article_ids(conn, slug)?;
    if author != editor.0 {
        return Err(StoreError::Forbidden);
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

/// The SQL of one article page: `ids_sql` picks the page's ids from the
/// indexes alone (ending in `LIMIT :limit OFFSET :offset`), so flags and
/// authors are looked up for those rows only, never for every match before
/// sorting; `count_sql` counts every match.
struct PageQuery<'a> {
    ids_sql: String,
    count_sql: String,
    params: Vec<(&'static str, &'a dyn ToSql)>,
}

impl PageQuery<'_> {
    /// The statement that reads the page's rows for a viewer (or none).
    /// `CROSS JOIN` fixes the join order: the page first, then each row by
    /// primary key. Left to itself, SQLite (without statistics) would scan
    /// every article and probe the page through an automatic index.
    fn list_sql(&self, has_viewer: bool) -> String {
        let columns = if has_viewer {
            ARTICLE_LIST_COLUMNS
        } else {
            ARTICLE_LIST_COLUMNS_ANONYMOUS
        };
        format!(
            "{columns} FROM ({}) page \
             CROSS JOIN articles a ON a.id = page.id CROSS JOIN users u ON u.id = a.author_id \
             ORDER BY a.id DESC",
            self.ids_sql
        )
    }
}

/// One page and the total count: two queries whatever the page size.
fn article_page(
    conn: &Connection,
    viewer: Option<UserId>,
    query: &PageQuery<'_>,
    page: Page,
) -> StoreResult<ArticlePage> {
    let viewer = viewer.map(|v| v.0);
    let list_sql = query.list_sql(viewer.is_some());
    let mut list_params = query.params.clone();
    if list_sql.contains(":viewer") {
        list_params.push((":viewer", &viewer));
    }
    list_params.push((":limit", &page.limit));
    list_params.push((":offset", &page.offset));
    let articles = conn
        .prepare_cached(&list_sql)?
        .query_map(list_params.as_slice(), article_from_row)?
        .collect::<Result<Vec<_>, _>>()?;

    let mut count_params = query.params.clone();
    if query.count_sql.contains(":viewer") {
        count_params.push((":viewer", &viewer));
    }
    let articles_count = conn
        .prepare_cached(&query.count_sql)?
        .query_row(count_params.as_slice(), |row| row.get(0))?;
    Ok(ArticlePage {
        articles,
        articles_count,
    })
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
    let where_sql = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    PageQuery {
        ids_sql: format!(
            "SELECT {id} AS id FROM {from}{where_sql} ORDER BY {id} DESC LIMIT :limit OFFSET :offset"
        ),
        count_sql: format!("SELECT count(*) FROM {from}{where_sql}"),
        params,
    }
}

/// The page query for the feed of `:viewer`: the followed authors first,
/// then their articles through `articles_author`.
fn feed_query() -> PageQuery<'static> {
    const FOLLOWED: &str = "follows f CROSS JOIN articles a ON a.author_id = f.followee_id \
         WHERE f.follower_id = :viewer";
    PageQuery {
        ids_sql: format!(
            "SELECT a.id FROM {FOLLOWED} ORDER BY a.id DESC LIMIT :limit OFFSET :offset"
        ),
        count_sql: format!("SELECT count(*) FROM {FOLLOWED}"),
        params: Vec::new(),
    }
}

fn profile_with_following(
    conn: &Connection,
    viewer: Option<UserId>,
    username: &str,
) -> StoreResult<Profile> {
    let viewer = viewer.map(|v| v.0);
    Ok(conn
        .prepare_cached(
            "SELECT u.username, u.bio, u.image, \
             EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = ?1 AND f.followee_id = u.id) \
             FROM users u WHERE u.username = ?2 COLLATE NOCASE",
        )?
        .query_row(params![viewer, username], |row| {
            Ok(Profile {
                username: row.get(0)?,
                bio: row.get(1)?,
                image: row.get(2)?,
                following: row.get(3)?,
            })
        })?)
}

/// Whether `schema_migrations` has its `checksum` column yet.
fn has_checksum_column(conn: &Connection) -> StoreResult<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('schema_migrations') WHERE name = 'checksum')",
        [],
        |r| r.get(0),
    )?)
}

/// The rows of `schema_migrations`, whether or not it has `checksum` yet.
fn recorded_migrations(conn: &Connection) -> StoreResult<Vec<migrate::Recorded>> {
    let sql = if has_checksum_column(conn)? {
        "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
    } else {
        "SELECT version, name, NULL FROM schema_migrations ORDER BY version"
    };
    let mut statement = conn.prepare(sql)?;
    let rows = statement.query_map([], |r| {
        Ok(migrate::Recorded {
            version: r.get(0)?,
            name: r.get(1)?,
            checksum: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

impl Store for SqliteStore {
    fn migrate(&self) -> StoreResult<Vec<AppliedMigration>> {
        let mut conn = super::checkout(&self.pool)?;
        // Migrations take as long as they take.
        conn.progress_handler(0, None::<fn() -> bool>);
        conn.execute_batch(migrate::CREATE_HISTORY_SQLITE)?;
        // One immediate transaction: a second migrator waits for the first
        // and then finds nothing pending.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if !has_checksum_column(&tx)? {
            tx.execute_batch(migrate::ADD_CHECKSUM)?;
        }
        let recorded = recorded_migrations(&tx)?;
        migrate::verify(migrate::SQLITE_FOLDER, migrate::SQLITE, &recorded)
            .map_err(StoreError::Schema)?;
        for m in migrate::SQLITE {
            tx.execute(
                "UPDATE schema_migrations SET checksum = ?2 WHERE version = ?1 AND checksum IS NULL",
                params![m.version, m.checksum()],
            )?;
        }
        let current = recorded.iter().map(|r| r.version).max().unwrap_or(0);
        let mut applied = Vec::new();
        for m in migrate::pending(migrate::SQLITE, current) {
            tx.execute_batch(m.sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at, checksum) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![m.version, m.name, Timestamp::now().0, m.checksum()],
            )?;
            applied.push(AppliedMigration {
                version: m.version,
                name: m.name.to_owned(),
            });
        }
        tx.commit()?;
        Ok(applied)
    }

    fn applied_migrations(&self) -> StoreResult<Vec<migrate::Recorded>> {
        let conn = self.conn()?;
        let exists: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')",
            [],
            |r| r.get(0),
        )?;
        if !exists {
            return Ok(Vec::new());
        }
        recorded_migrations(&conn)
    }

    fn setting_or_insert(&self, key: &str, candidate: &str) -> StoreResult<String> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
                params![key, candidate],
            )?;
            Ok(
                tx.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                    r.get(0)
                })?,
            )
        })
    }

    fn create_user(&self, user: &NewUser, password_hash: &str) -> StoreResult<UserRecord> {
        self.write(|tx| {
            let now = Timestamp::now().0;
            tx.prepare_cached(
                "INSERT INTO users (username, email, email_key, password_hash, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            )?
            .execute(params![
                user.username.as_str(),
                user.email.as_str(),
                user.email.key(),
                password_hash,
                now
            ])?;
            user_by_id(tx, UserId(tx.last_insert_rowid()))
        })
    }

    fn user_by_id(&self, id: UserId) -> StoreResult<UserRecord> {
        user_by_id(&*self.conn()?, id)
    }

    fn user_by_email(&self, email_key: &str) -> StoreResult<Option<UserRecord>> {
        Ok(self
            .conn()?
            .prepare_cached(&format!("{USER_COLUMNS} WHERE email_key = ?1"))?
            .query_row([email_key], user_from_row)
            .optional()?)
    }

    fn update_user(
        &self,
        id: UserId,
        changes: &UserChanges,
        password_hash: Option<&str>,
    ) -> StoreResult<UserRecord> {
        self.write(|tx| {
            let updated = tx
                .prepare_cached(
                    "UPDATE users SET \
                     username = coalesce(?2, username), \
                     email = coalesce(?3, email), email_key = coalesce(?4, email_key), \
                     password_hash = coalesce(?5, password_hash), \
                     credential_version = credential_version + ?6, \
                     bio = coalesce(?7, bio), image = coalesce(?8, image), updated_at = ?9 \
                     WHERE id = ?1",
                )?
                .execute(params![
                    id.0,
                    changes.username.as_ref().map(|u| u.as_str()),
                    changes.email.as_ref().map(|e| e.as_str()),
                    changes.email.as_ref().map(|e| e.key()),
                    password_hash,
                    i64::from(password_hash.is_some()),
                    changes.bio,
                    changes.image,
                    Timestamp::now().0,
                ])?;
            if updated == 0 {
                return Err(StoreError::NotFound);
            }
            user_by_id(tx, id)
        })
    }

    fn profile(&self, viewer: Option<UserId>, username: &str) -> StoreResult<Profile> {
        profile_with_following(&*self.conn()?, viewer, username)
    }

    fn follow(&self, follower: UserId, username: &str) -> StoreResult<Profile> {
        self.write(|tx| {
            let (id, mut profile) = user_by_name(tx, username)?;
            if id == follower.0 {
                return Err(StoreError::Invalid("you cannot follow yourself".into()));
            }
            tx.prepare_cached(
                "INSERT INTO follows (follower_id, followee_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )?
            .execute(params![follower.0, id])?;
            profile.following = true;
            Ok(profile)
        })
    }

    fn unfollow(&self, follower: UserId, username: &str) -> StoreResult<Profile> {
        self.write(|tx| {
            let (id, profile) = user_by_name(tx, username)?;
            tx.prepare_cached("DELETE FROM follows WHERE follower_id = ?1 AND followee_id = ?2")?
                .execute(params![follower.0, id])?;
            Ok(profile)
        })
    }

    fn insert_article(
        &self,
        author: UserId,
        slug: &str,
        article: &NewArticle,
    ) -> StoreResult<ArticleView> {
        self.write(|tx| {
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
            article_by_id(tx, Some(author), id)
        })
    }

    fn article(&self, viewer: Option<UserId>, slug: &str) -> StoreResult<ArticleView> {
        let viewer = viewer.map(|v| v.0);
        Ok(self.conn()?.prepare_cached(ARTICLE_BY_SLUG)?.query_row(
            named_params! {":viewer": viewer, ":slug": slug},
            article_from_row,
        )?)
    }

    fn update_article(
        &self,
        editor: UserId,
        slug: &str,
        changes: &ArticleChanges,
        new_slug: Option<&str>,
    ) -> StoreResult<ArticleView> {
        self.write(|tx| {
            let id = editable_article(tx, editor, slug)?;
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
            article_by_id(tx, Some(editor), id)
        })
    }

    fn delete_article(&self, editor: UserId, slug: &str) -> StoreResult<()> {
        self.write(|tx| {
            let id = editable_article(tx, editor, slug)?;
            tx.prepare_cached("DELETE FROM articles WHERE id = ?1")?
                .execute([id])?;
            Ok(())
        })
    }

    fn check_article_editor(&self, editor: UserId, slug: &str) -> StoreResult<()> {
        editable_article(&*self.conn()?, editor, slug).map(|_| ())
    }

    fn list_articles(
        &self,
        viewer: Option<UserId>,
        filter: &ArticleFilter,
        page: Page,
    ) -> StoreResult<ArticlePage> {
        let query = list_query(filter);
        self.read(|tx| article_page(tx, viewer, &query, page))
    }

    fn feed(&self, viewer: UserId, page: Page) -> StoreResult<ArticlePage> {
        let query = feed_query();
        self.read(|tx| article_page(tx, Some(viewer), &query, page))
    }

    fn favorite(&self, user: UserId, slug: &str) -> StoreResult<ArticleView> {
        self.write(|tx| {
            let (id, _) = article_ids(tx, slug)?;
            let added = tx
                .prepare_cached(
                    "INSERT INTO favorites (user_id, article_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                )?
                .execute(params![user.0, id])?;
            if added > 0 {
                tx.prepare_cached("UPDATE articles SET favorites_count = favorites_count + 1 WHERE id = ?1")?
                    .execute([id])?;
            }
            article_by_id(tx, Some(user), id)
        })
    }

    fn unfavorite(&self, user: UserId, slug: &str) -> StoreResult<ArticleView> {
        self.write(|tx| {
            let (id, _) = article_ids(tx, slug)?;
            let removed = tx
                .prepare_cached("DELETE FROM favorites WHERE user_id = ?1 AND article_id = ?2")?
                .execute(params![user.0, id])?;
            if removed > 0 {
                tx.prepare_cached(
                    "UPDATE articles SET favorites_count = favorites_count - 1 WHERE id = ?1",
                )?
                .execute([id])?;
            }
            article_by_id(tx, Some(user), id)
        })
    }

    fn add_comment(&self, author: UserId, slug: &str, body: &str) -> StoreResult<CommentView> {
        self.write(|tx| {
            let (article_id, _) = article_ids(tx, slug)?;
            let now = Timestamp::now().0;
            tx.prepare_cached(
                "INSERT INTO comments (article_id, author_id, body, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?4)",
            )?
            .execute(params![article_id, author.0, body, now])?;
            let id = tx.last_insert_rowid();
            let user = user_by_id(tx, author)?;
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
        })
    }

    fn comments(&self, viewer: Option<UserId>, slug: &str) -> StoreResult<Vec<CommentView>> {
        let conn = self.conn()?;
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
            article_ids(&conn, slug)?;
        }
        Ok(comments)
    }

    fn delete_comment(&self, user: UserId, slug: &str, id: i64) -> StoreResult<()> {
        self.write(|tx| {
            let (article_id, _) = article_ids(tx, slug)?;
            let author: i64 = tx
                .prepare_cached("SELECT author_id FROM comments WHERE id = ?1 AND article_id = ?2")?
                .query_row(params![id, article_id], |r| r.get(0))?;
            if author != user.0 {
                return Err(StoreError::Forbidden);
            }
            tx.prepare_cached("DELETE FROM comments WHERE id = ?1")?
                .execute([id])?;
            Ok(())
        })
    }

    fn check_article_exists(&self, slug: &str) -> StoreResult<()> {
        article_ids(&*self.conn()?, slug).map(|_| ())
    }

    fn tags(&self) -> StoreResult<Vec<String>> {
        Ok(self
            .conn()?
            .prepare_cached("SELECT tag FROM tag_counts ORDER BY uses DESC, tag")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<_>, _>>()?)
    }

    fn pool_state(&self) -> PoolState {
        super::state_of(&self.pool)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            for has_viewer in [false, true] {
                let list_sql = query.list_sql(has_viewer);
                let viewer = has_viewer.then_some(1_i64);
                let mut all: Vec<(&str, &dyn ToSql)> = query.params.clone();
                all.extend([
                    (":viewer", &viewer as &dyn ToSql),
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
            .prepare_cached(&list_query(&filter).list_sql(false))
            .unwrap();
        assert_eq!(
            statement.get_status(rusqlite::StatementStatus::RePrepare),
            0,
            "binding another LIMIT must not re-plan the statement"
        );
        assert_eq!(statement.get_status(rusqlite::StatementStatus::Run), 3);
    }
}
