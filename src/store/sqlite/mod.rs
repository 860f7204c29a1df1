//! The SQLite backend: rusqlite (bundled SQLite, so the binary needs no
//! system library) pooled with r2d2.
//!
//! Every connection runs in WAL mode with foreign keys on and a busy
//! timeout; writes take the lock up front (`BEGIN IMMEDIATE`) so two writers
//! never deadlock upgrading a read lock. Statements are prepared once per
//! connection through rusqlite's statement cache.
//!
//! This file holds the pool and the one `impl Store`, which shows for each
//! call whether it runs in a write transaction (`write`), a read snapshot
//! (`read`) or on a bare connection. The SQL is in one file per resource,
//! the same files as the PostgreSQL backend's.

mod articles;
mod comments;
mod listing;
mod profiles;
mod schema;
mod users;

use std::path::Path;
use std::time::Duration;

use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::config::DbConfig;
use rusqlite::trace::TraceEventCodes;
use rusqlite::{Connection, ErrorCode, Transaction, TransactionBehavior};

use super::migrate;
use super::{
    AppliedMigration, Entity, PoolOptions, PoolState, Store, StoreError, StoreResult, TokenDigest,
    UniqueKey,
};
use crate::domain::article::{ArticleChanges, ArticleFilter, NewArticle, Page};
use crate::domain::search::SearchQuery;
use crate::domain::user::{NewUser, UserChanges};
use crate::domain::views::{
    ArticlePage, ArticleView, CommentView, FeedEntry, Profile, SitemapEntry, UserRecord,
};
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
        trace_statements(&conn);
        let deadline = std::time::Instant::now() + self.statement_timeout;
        conn.progress_handler(
            PROGRESS_STEPS,
            Some(move || std::time::Instant::now() >= deadline),
        );
        Ok(conn)
    }

    /// A pooled connection without the deadline of [`Self::conn`] (a
    /// connection keeps the handler of its last checkout): migrations take
    /// as long as they take.
    fn conn_without_deadline(&self) -> StoreResult<PooledConnection<SqliteConnectionManager>> {
        let conn = super::checkout(&self.pool)?;
        trace_statements(&conn);
        conn.progress_handler(0, None::<fn() -> bool>);
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

/// Maps "no row" to `NotFound(what)`: for lookups that may miss. Elsewhere
/// a missing row is a backend error (a query that must return one did not).
/// Reports each statement to `spans` while the connection works for a
/// traced request, and nothing otherwise: the hook costs a copy of the
/// statement's text per statement, so it is set (or cleared) at each
/// checkout, and only when traces are exported at all.
fn trace_statements(conn: &Connection) {
    if crate::telemetry::traces::enabled() {
        let hook = crate::telemetry::request_tag::traced()
            .then_some(super::spans::sqlite_trace as fn(rusqlite::trace::TraceEvent<'_>));
        conn.trace_v2(
            TraceEventCodes::SQLITE_TRACE_STMT | TraceEventCodes::SQLITE_TRACE_PROFILE,
            hook,
        );
    }
}

pub(super) fn found<T>(result: rusqlite::Result<T>, what: Entity) -> StoreResult<T> {
    match result {
        Err(rusqlite::Error::QueryReturnedNoRows) => Err(StoreError::NotFound(what)),
        other => Ok(other?),
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
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
                        StoreError::Backend(e.into())
                    }
                }
                ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::OperationInterrupted => StoreError::Unavailable(e.into()),
                _ => StoreError::Backend(e.into()),
            },
            _ => StoreError::Backend(e.into()),
        }
    }
}

impl Store for SqliteStore {
    fn migrate(&self) -> StoreResult<Vec<AppliedMigration>> {
        schema::migrate(&mut *self.conn_without_deadline()?)
    }

    fn applied_migrations(&self) -> StoreResult<Vec<migrate::Recorded>> {
        schema::applied_migrations(&*self.conn()?)
    }

    fn setting_or_insert(&self, key: &str, candidate: &str) -> StoreResult<String> {
        self.write(|tx| schema::setting_or_insert(tx, key, candidate))
    }

    fn create_user(&self, user: &NewUser, password_hash: &str) -> StoreResult<UserRecord> {
        self.write(|tx| users::create(tx, user, password_hash))
    }

    fn user_by_id(&self, id: UserId) -> StoreResult<UserRecord> {
        users::by_id(&*self.conn()?, id)
    }

    fn token_user(&self, id: UserId, token: &TokenDigest) -> StoreResult<(UserRecord, bool)> {
        users::by_token(&*self.conn()?, id, token)
    }

    fn sign_out_token(&self, token: &TokenDigest, expires_at: i64) -> StoreResult<()> {
        self.write(|tx| users::sign_out_token(tx, token, expires_at))
    }

    fn user_by_email(&self, email_key: &str) -> StoreResult<Option<UserRecord>> {
        users::by_email(&*self.conn()?, email_key)
    }

    fn update_user(
        &self,
        id: UserId,
        changes: &UserChanges,
        password_hash: Option<&str>,
    ) -> StoreResult<UserRecord> {
        self.write(|tx| users::update(tx, id, changes, password_hash))
    }

    fn profile(&self, viewer: Option<UserId>, username: &str) -> StoreResult<Profile> {
        profiles::profile(&*self.conn()?, viewer, username)
    }

    fn follow(&self, follower: UserId, username: &str) -> StoreResult<Profile> {
        self.write(|tx| profiles::follow(tx, follower, username))
    }

    fn unfollow(&self, follower: UserId, username: &str) -> StoreResult<Profile> {
        self.write(|tx| profiles::unfollow(tx, follower, username))
    }

    fn insert_article(
        &self,
        author: UserId,
        slug: &str,
        article: &NewArticle,
    ) -> StoreResult<ArticleView> {
        self.write(|tx| articles::insert(tx, author, slug, article))
    }

    fn article(&self, viewer: Option<UserId>, slug: &str) -> StoreResult<ArticleView> {
        articles::get(&*self.conn()?, viewer, slug)
    }

    fn update_article(
        &self,
        editor: UserId,
        slug: &str,
        changes: &ArticleChanges,
        new_slug: Option<&str>,
    ) -> StoreResult<ArticleView> {
        self.write(|tx| articles::update(tx, editor, slug, changes, new_slug))
    }

    fn delete_article(&self, editor: UserId, slug: &str) -> StoreResult<()> {
        self.write(|tx| articles::delete(tx, editor, slug))
    }

    fn check_article_editor(&self, editor: UserId, slug: &str) -> StoreResult<()> {
        articles::check_editor(&*self.conn()?, editor, slug)
    }

    fn list_articles(
        &self,
        viewer: Option<UserId>,
        filter: &ArticleFilter,
        page: Page,
    ) -> StoreResult<ArticlePage> {
        self.read(|tx| listing::list_articles(tx, viewer, filter, page))
    }

    fn feed(&self, viewer: UserId, page: Page) -> StoreResult<ArticlePage> {
        self.read(|tx| listing::feed(tx, viewer, page))
    }

    fn search_articles(
        &self,
        viewer: Option<UserId>,
        query: &SearchQuery,
        page: Page,
    ) -> StoreResult<ArticlePage> {
        self.read(|tx| listing::search(tx, viewer, query, page))
    }

    fn latest_articles(&self, filter: &ArticleFilter, limit: i64) -> StoreResult<Vec<FeedEntry>> {
        self.read(|tx| listing::latest(tx, filter, limit))
    }

    fn sitemap_blocks(&self, block: i64) -> StoreResult<(Vec<i64>, Vec<i64>)> {
        listing::sitemap_blocks(&*self.conn()?, block)
    }

    fn sitemap_articles(&self, ids: std::ops::Range<i64>) -> StoreResult<Vec<SitemapEntry>> {
        listing::sitemap_articles(&*self.conn()?, ids)
    }

    fn sitemap_profiles(&self, ids: std::ops::Range<i64>) -> StoreResult<Vec<SitemapEntry>> {
        listing::sitemap_profiles(&*self.conn()?, ids)
    }

    fn favorite(&self, user: UserId, slug: &str) -> StoreResult<ArticleView> {
        self.write(|tx| articles::favorite(tx, user, slug))
    }

    fn unfavorite(&self, user: UserId, slug: &str) -> StoreResult<ArticleView> {
        self.write(|tx| articles::unfavorite(tx, user, slug))
    }

    fn add_comment(&self, author: UserId, slug: &str, body: &str) -> StoreResult<CommentView> {
        self.write(|tx| comments::add(tx, author, slug, body))
    }

    fn comments(&self, viewer: Option<UserId>, slug: &str) -> StoreResult<Vec<CommentView>> {
        comments::list(&*self.conn()?, viewer, slug)
    }

    fn delete_comment(&self, user: UserId, slug: &str, id: i64) -> StoreResult<()> {
        self.write(|tx| comments::delete(tx, user, slug, id))
    }

    fn check_article_exists(&self, slug: &str) -> StoreResult<()> {
        comments::check_article_exists(&*self.conn()?, slug)
    }

    fn tags(&self) -> StoreResult<Vec<String>> {
        listing::tags(&*self.conn()?)
    }

    fn pool_state(&self) -> PoolState {
        super::state_of(&self.pool)
    }

    /// One file, one copy: every read is the primary's.
    fn reading(self: std::sync::Arc<Self>, _: super::ReadFrom) -> std::sync::Arc<dyn Store> {
        self
    }
}
