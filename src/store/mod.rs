//! Storage: one synchronous, object-safe [`Store`] trait, its backends, and
//! the async bridge ([`Db`]) the HTTP layer calls it through.
//!
//! Methods are query-shaped: each returns a whole read model for a given
//! viewer (author profile, `following`, `favorited`, `favoritesCount`, tags),
//! so handlers never query twice. Logic that does not depend on the backend
//! (unique slugs, the migration list) is written once here.

pub mod attempts;
mod database_url;
pub mod migrate;
pub mod postgres;
pub mod reads;
pub mod spans;
pub mod sqlite;

use std::ops::Range;
use std::sync::Arc;

use crate::domain::article::{
    slugify, with_suffix, ArticleChanges, ArticleFilter, NewArticle, Page,
};
use crate::domain::search::SearchQuery;
use crate::domain::user::{NewUser, UserChanges};
use crate::domain::views::{
    ArticlePage, ArticleView, CommentView, FeedEntry, Profile, SitemapEntry, UserRecord,
};
use crate::domain::UserId;
pub use database_url::DatabaseUrl;
pub use reads::{ReadFrom, WalPosition};

/// What a signed-out token is remembered by: the SHA-256 digest of its
/// text, so the database never holds a usable token.
pub type TokenDigest = [u8; 32];

/// Which unique rule a write broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UniqueKey {
    Username,
    Email,
    Slug,
}

/// What a lookup did not find, or whose change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entity {
    /// An account, looked up by id (a token's user).
    User,
    /// An account, looked up by username.
    Profile,
    Article,
    Comment,
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Entity::User => "user",
            Entity::Profile => "profile",
            Entity::Article => "article",
            Entity::Comment => "comment",
        })
    }
}

/// A backend's own error, kept whole (with its sources) for the log.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Backend-neutral storage failures; each backend maps its own codes here.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(Entity),
    /// It exists but belongs to someone else.
    #[error("only the author may change this {0}")]
    Forbidden(Entity),
    /// A unique constraint was violated.
    #[error("duplicate {0:?}")]
    Conflict(UniqueKey),
    /// A request the data model refuses (following yourself).
    #[error("{0}")]
    Invalid(String),
    /// The database's schema history does not match this binary's
    /// migrations (one was edited after it was applied).
    #[error("{0}")]
    Schema(String),
    /// No connection could be had in time: the database is down or saturated.
    #[error("database unavailable")]
    Unavailable(#[source] Cause),
    /// Anything else the backend reported.
    #[error("database error")]
    Backend(#[source] Cause),
}

impl StoreError {
    /// The error and every cause under it on one line, for logs and
    /// operators (never for clients: causes may name hosts and tables).
    pub fn report(&self) -> String {
        let mut line = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(error) = cause {
            line.push_str(": ");
            line.push_str(&error.to_string());
            cause = error.source();
        }
        line
    }
}

/// A migration that was applied by [`Store::migrate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: i64,
    pub name: String,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything Conduit stores. Implementations are synchronous (they run on
/// the blocking pool through [`Db::run`]) and must be safe to share.
pub trait Store: Send + Sync {
    /// Applies pending migrations; returns those it applied, oldest first.
    fn migrate(&self) -> StoreResult<Vec<AppliedMigration>>;
    /// Every row of the migration history, oldest first (none on an empty
    /// database), for [`migrate::verify`].
    fn applied_migrations(&self) -> StoreResult<Vec<migrate::Recorded>>;
    /// The highest applied migration version (0 on an empty database).
    fn schema_version(&self) -> StoreResult<i64> {
        let applied = self.applied_migrations()?;
        Ok(applied.iter().map(|m| m.version).max().unwrap_or(0))
    }

    /// Returns the stored value of `key`, storing `candidate` first if the
    /// key has none (used for the generated token secret).
    fn setting_or_insert(&self, key: &str, candidate: &str) -> StoreResult<String>;

    /// Abuse-limit counts shared by every process on this database, or
    /// `None` when the backend serves one process (which counts in memory).
    fn attempt_ledger(&self) -> Option<&dyn attempts::AttemptLedger> {
        None
    }

    /// Creates an account. `Conflict(Username | Email)` when taken.
    fn create_user(&self, user: &NewUser, password_hash: &str) -> StoreResult<UserRecord>;
    fn user_by_id(&self, id: UserId) -> StoreResult<UserRecord>;
    /// The account a token names, and whether that very token was signed
    /// out ([`Store::sign_out_token`]), in one query.
    fn token_user(&self, id: UserId, token: &TokenDigest) -> StoreResult<(UserRecord, bool)>;
    /// Signs a token out: refused from now on by every process using this
    /// database. Remembered until `expires_at` (Unix seconds), when the
    /// token expires anyway; entries past that are removed here.
    fn sign_out_token(&self, token: &TokenDigest, expires_at: i64) -> StoreResult<()>;
    /// Looks an account up by its email key (lowercased email).
    fn user_by_email(&self, email_key: &str) -> StoreResult<Option<UserRecord>>;
    /// Applies `changes`; a new `password_hash` bumps the credential version.
    fn update_user(
        &self,
        id: UserId,
        changes: &UserChanges,
        password_hash: Option<&str>,
    ) -> StoreResult<UserRecord>;

    fn profile(&self, viewer: Option<UserId>, username: &str) -> StoreResult<Profile>;
    /// Idempotent. `Invalid` when following yourself.
    fn follow(&self, follower: UserId, username: &str) -> StoreResult<Profile>;
    /// Idempotent.
    fn unfollow(&self, follower: UserId, username: &str) -> StoreResult<Profile>;

    /// Inserts an article under exactly `slug`; `Conflict(Slug)` when taken.
    fn insert_article(
        &self,
        author: UserId,
        slug: &str,
        article: &NewArticle,
    ) -> StoreResult<ArticleView>;
    fn article(&self, viewer: Option<UserId>, slug: &str) -> StoreResult<ArticleView>;
    /// `NotFound` for an unknown slug, `Forbidden` when `editor` is not the
    /// author. `new_slug` is set when the title changed.
    fn update_article(
        &self,
        editor: UserId,
        slug: &str,
        changes: &ArticleChanges,
        new_slug: Option<&str>,
    ) -> StoreResult<ArticleView>;
    fn delete_article(&self, editor: UserId, slug: &str) -> StoreResult<()>;
    /// Checks that `slug` exists and `editor` may change it, without changing it.
    fn check_article_editor(&self, editor: UserId, slug: &str) -> StoreResult<()>;

    /// Newest first; items carry no body. A fixed number of queries per page.
    fn list_articles(
        &self,
        viewer: Option<UserId>,
        filter: &ArticleFilter,
        page: Page,
    ) -> StoreResult<ArticlePage>;
    /// Articles by authors `viewer` follows, newest first.
    fn feed(&self, viewer: UserId, page: Page) -> StoreResult<ArticlePage>;
    /// Full-text search: the articles containing every word of `query`
    /// (in title, description, body or tags), best match first. Only the
    /// newest [`RANKED_MAX`](crate::domain::search::RANKED_MAX) matches are
    /// ranked and counted, so a search costs the same however many match.
    fn search_articles(
        &self,
        viewer: Option<UserId>,
        query: &SearchQuery,
        page: Page,
    ) -> StoreResult<ArticlePage>;
    /// The newest `limit` articles of a list (its filters as in
    /// [`Store::list_articles`]), whole, for feeds. An unknown author has
    /// none.
    fn latest_articles(&self, filter: &ArticleFilter, limit: i64) -> StoreResult<Vec<FeedEntry>>;
    /// The blocks of `block` ids (id / block) that hold at least one
    /// article, and those that hold at least one user, ascending: the
    /// sitemap's pages. One index lookup per block, not per row.
    fn sitemap_blocks(&self, block: i64) -> StoreResult<(Vec<i64>, Vec<i64>)>;
    /// Slugs and update times of the articles whose ids are in `ids`.
    fn sitemap_articles(&self, ids: Range<i64>) -> StoreResult<Vec<SitemapEntry>>;
    /// Usernames of the users whose ids are in `ids` (no update time: an
    /// account's changes, such as its email, are not for the public).
    fn sitemap_profiles(&self, ids: Range<i64>) -> StoreResult<Vec<SitemapEntry>>;
    /// Idempotent.
    fn favorite(&self, user: UserId, slug: &str) -> StoreResult<ArticleView>;
    /// Idempotent.
    fn unfavorite(&self, user: UserId, slug: &str) -> StoreResult<ArticleView>;

    fn add_comment(&self, author: UserId, slug: &str, body: &str) -> StoreResult<CommentView>;
    /// Oldest first.
    fn comments(&self, viewer: Option<UserId>, slug: &str) -> StoreResult<Vec<CommentView>>;
    /// `NotFound` for an unknown article or a comment of another article,
    /// `Forbidden` when `user` did not write it.
    fn delete_comment(&self, user: UserId, slug: &str, id: i64) -> StoreResult<()>;
    /// `NotFound` when the article does not exist.
    fn check_article_exists(&self, slug: &str) -> StoreResult<()>;

    /// Tags used by at least one article, most used first, then by name.
    fn tags(&self) -> StoreResult<Vec<String>>;

    /// The connection pool's size and use, for metrics. Never blocks long.
    fn pool_state(&self) -> PoolState;

    /// This store with its reads served as `from` allows: by the read
    /// replica, when the backend has one and it can. Writes, and the reads
    /// that come before a write, always use the primary.
    fn reading(self: Arc<Self>, from: ReadFrom) -> Arc<dyn Store>;

    /// Whether some reads may be served by a read replica.
    fn has_read_replica(&self) -> bool {
        false
    }

    /// Where the primary's log is now, so at or past every write that has
    /// returned; `None` when reads never leave the primary, so there is
    /// nothing for a reader to wait for.
    fn written_position(&self) -> StoreResult<Option<WalPosition>> {
        Ok(None)
    }
}

/// The blocks of `block` ids of `table` that hold a row, ascending, found
/// by a walk that jumps from block to block through the primary key (the
/// same SQL on both backends; `block` is the parameter's SQL).
pub(crate) fn blocks_sql(table: &str, block: &str) -> String {
    format!(
        "WITH RECURSIVE blocks (n) AS (\
         SELECT (SELECT min(id) FROM {table}) / {block} \
         UNION ALL \
         SELECT (SELECT min(id) FROM {table} WHERE id >= (n + 1) * {block}) / {block} \
         FROM blocks WHERE n IS NOT NULL) \
         SELECT n FROM blocks WHERE n IS NOT NULL"
    )
}

/// A snapshot of a connection pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolState {
    pub max: u32,
    pub open: u32,
    pub idle: u32,
}

/// Checks a connection out of an r2d2 pool, recording the wait.
pub(crate) fn checkout<M: r2d2::ManageConnection>(
    pool: &r2d2::Pool<M>,
) -> StoreResult<r2d2::PooledConnection<M>> {
    let _wait = spans::pool_wait().entered();
    let started = std::time::Instant::now();
    let result = pool.get();
    crate::telemetry::metrics::METRICS
        .pool_wait
        .observe(started.elapsed().as_secs_f64());
    result.map_err(|e| StoreError::Unavailable(e.into()))
}

/// The state of an r2d2 pool.
pub(crate) fn state_of<M: r2d2::ManageConnection>(pool: &r2d2::Pool<M>) -> PoolState {
    let state = pool.state();
    PoolState {
        max: pool.max_size(),
        open: state.connections,
        idle: state.idle_connections,
    }
}

/// How many times a taken slug is retried with a fresh suffix.
const SLUG_ATTEMPTS: usize = 8;

/// Creates an article under a slug derived from its title, adding a short
/// suffix while the slug is taken.
pub fn create_article(
    store: &dyn Store,
    author: UserId,
    article: &NewArticle,
) -> StoreResult<ArticleView> {
    let base = slugify(&article.title);
    with_unique_slug(&base, |slug| store.insert_article(author, slug, article))
}

/// Updates an article; a new title regenerates the slug (unique as above).
pub fn update_article(
    store: &dyn Store,
    editor: UserId,
    slug: &str,
    changes: &ArticleChanges,
) -> StoreResult<ArticleView> {
    match &changes.title {
        None => store.update_article(editor, slug, changes, None),
        Some(title) => {
            let base = slugify(title);
            with_unique_slug(&base, |new_slug| {
                // Keeping the current slug is never a conflict.
                let new_slug = if new_slug == slug {
                    None
                } else {
                    Some(new_slug)
                };
                store.update_article(editor, slug, changes, new_slug)
            })
        }
    }
}

fn with_unique_slug<T>(
    base: &str,
    mut attempt: impl FnMut(&str) -> StoreResult<T>,
) -> StoreResult<T> {
    let mut candidate = base.to_owned();
    for _ in 0..SLUG_ATTEMPTS {
        match attempt(&candidate) {
            Err(StoreError::Conflict(UniqueKey::Slug)) => candidate = with_suffix(base),
            other => return other,
        }
    }
    Err(StoreError::Backend(
        format!("no free slug for {base:?} after {SLUG_ATTEMPTS} attempts").into(),
    ))
}

/// How a backend's connection pool behaves.
#[derive(Clone, Copy, Debug)]
pub struct PoolOptions {
    /// Connections at most.
    pub pool_size: u32,
    /// How long a caller waits for a free connection before `Unavailable`.
    pub pool_timeout_ms: u64,
    /// How long to keep retrying an unreachable server at start (PostgreSQL).
    pub startup_timeout_secs: u64,
    /// Longest a store call may hold its connection: past it the statement
    /// is interrupted (SQLite) or cancelled (PostgreSQL), so a request that
    /// timed out does not keep a pooled connection busy. Migrations are
    /// exempt.
    pub statement_timeout: std::time::Duration,
}

/// A read replica for [`open_with_replica`].
#[derive(Clone, Debug)]
pub struct ReplicaOptions {
    /// A `postgres://` URL of the replica (or of a service in front of
    /// several).
    pub url: String,
    /// How long a read waits for the replica to replay its reader's last
    /// write before it runs on the primary.
    pub wait: std::time::Duration,
}

/// Opens the backend named by the URL's scheme. Nothing is migrated here.
pub fn open(url: &DatabaseUrl, options: &PoolOptions) -> Result<Arc<dyn Store>, String> {
    open_with_replica(url, None, options)
}

/// [`open`], with reads served by `replica` where they can be (PostgreSQL).
pub fn open_with_replica(
    url: &DatabaseUrl,
    replica: Option<&ReplicaOptions>,
    options: &PoolOptions,
) -> Result<Arc<dyn Store>, String> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            if replica.is_some() {
                return Err(
                    "database_read_url: read replicas need a postgres:// database_url".into(),
                );
            }
            Ok(Arc::new(sqlite::SqliteStore::open(path, options)?))
        }
        DatabaseUrl::Postgres(url) => Ok(Arc::new(postgres::PgStore::open(url, replica, options)?)),
    }
}

/// The async face of a [`Store`]: every call runs on tokio's blocking pool,
/// because a pool checkout and the database drivers block the thread.
#[derive(Clone)]
pub struct Db {
    store: Arc<dyn Store>,
}

impl Db {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Db { store }
    }

    /// Runs `f` against the store off the async runtime, keeping the
    /// caller's tracing span. An unreachable database is logged and counted
    /// here, once per call, whoever made it. Everything runs on the primary.
    pub async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&dyn Store) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        Self::on(Arc::clone(&self.store), f).await
    }

    /// [`Db::run`] for a request that only reads: its reads may be served
    /// by the read replica, as `from` allows.
    pub async fn read<T, F>(&self, from: ReadFrom, f: F) -> StoreResult<T>
    where
        F: FnOnce(&dyn Store) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        Self::on(Arc::clone(&self.store).reading(from), f).await
    }

    async fn on<T, F>(store: Arc<dyn Store>, f: F) -> StoreResult<T>
    where
        F: FnOnce(&dyn Store) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        // Opened before the hand-off to the blocking pool, so the span
        // shows how long the call waited for a thread.
        let span = spans::store_call(std::any::type_name::<F>());
        let work = move || span.in_scope(|| f(store.as_ref()));
        let result = tokio::task::spawn_blocking(crate::telemetry::request_tag::carried(work))
            .await
            .map_err(|e| StoreError::Backend(e.into()))?;
        if let Err(error @ StoreError::Unavailable(_)) = &result {
            tracing::warn!(cause = %error.report(), "database unavailable");
            crate::telemetry::metrics::METRICS.db_unavailable.inc();
        }
        result
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}
