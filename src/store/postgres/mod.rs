//! The PostgreSQL backend: the synchronous `postgres` client pooled with
//! r2d2 (`r2d2_postgres`), TLS through rustls ([`tls`]).
//!
//! Each pooled connection keeps the statements it has prepared, so a query
//! is parsed and planned once per connection and afterwards costs one round
//! trip. Multi-statement writes run in one transaction; a list's page and
//! count are one statement, so they share its snapshot.
//!
//! This file holds the pool, the `Session` every query goes through and the
//! one `impl Store`, which shows for each call whether it runs in a
//! transaction (`write`) or not (`direct`). The SQL is in one file per
//! resource, the same files as the SQLite backend's.

mod articles;
mod attempts;
mod comments;
mod listing;
mod profiles;
mod replica;
mod schema;
pub mod sslmode;
pub mod tls;
mod users;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, GenericClient, Row, Statement, Transaction};
use r2d2::{Pool, PooledConnection};
use r2d2_postgres::PostgresConnectionManager;

use super::spans;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::attempts::{AttemptCounts, AttemptKey, AttemptLedger};
use super::{
    migrate, AppliedMigration, Entity, PoolOptions, PoolState, ReadFrom, ReplicaOptions, Store,
    StoreError, StoreResult, TokenDigest, UniqueKey, WalPosition,
};
use crate::domain::article::{ArticleChanges, ArticleFilter, NewArticle, Page};
use crate::domain::search::SearchQuery;
use crate::domain::user::{NewUser, UserChanges};
use crate::domain::views::{
    ArticlePage, ArticleView, CommentView, FeedEntry, Profile, SitemapEntry, Timestamp, UserRecord,
};
use crate::domain::UserId;

type Param<'a> = &'a (dyn ToSql + Sync);

/// A pooled client and the statements prepared on it.
pub struct PgConnection {
    client: Client,
    statements: HashMap<String, Statement>,
    /// How far the server had replayed the primary's log when last asked
    /// (read replicas only).
    replayed: u64,
}

/// Wraps `r2d2_postgres`' manager to attach a statement cache to each
/// connection (its own connections are bare clients).
pub struct Manager {
    inner: PostgresConnectionManager<MakeRustlsConnect>,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConnection;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConnection, postgres::Error> {
        Ok(PgConnection {
            client: self.inner.connect()?,
            statements: HashMap::new(),
            replayed: 0,
        })
    }

    fn is_valid(&self, conn: &mut PgConnection) -> Result<(), postgres::Error> {
        self.inner.is_valid(&mut conn.client)
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        self.inner.has_broken(&mut conn.client)
    }
}

/// The PostgreSQL store: the primary's pool and, when configured, a read
/// replica's. Clones made by [`Store::reading`] share the pools and differ
/// in where their reads go.
pub struct PgStore {
    pools: Arc<Pools>,
    reads: ReadFrom,
}

struct Pools {
    /// Always `Some` until dropped (see `Drop`).
    primary: Option<Pool<Manager>>,
    replica: Option<replica::ReadPool>,
}

impl Drop for Pools {
    /// Closing a synchronous client blocks on its own small runtime, which
    /// panics on an async runtime's thread; the last owner of the store is
    /// often one. So the connections are closed on a plain thread.
    fn drop(&mut self) {
        let pools = (self.primary.take(), self.replica.take());
        if tokio::runtime::Handle::try_current().is_ok() {
            let _ = std::thread::spawn(move || drop(pools)).join();
        }
    }
}

impl PgStore {
    /// Connects, retrying with backoff for `startup_timeout` (the database
    /// may start after us), then fails with the last reason.
    pub fn open(
        url: &str,
        replica: Option<&ReplicaOptions>,
        options: &PoolOptions,
    ) -> Result<Self, String> {
        let manager = connection_manager(url, options)?;
        let replica = match replica {
            Some(replica) => Some(replica::ReadPool::new(
                connection_manager_with(
                    &replica.url,
                    options,
                    Some(&sslmode::parse_url(url)?.config),
                )
                .map_err(|e| e.replace("database_url", "database_read_url"))?,
                options.pool_size,
                replica.wait,
            )),
            None => None,
        };
        // Connect once by hand first: it fails fast with the real reason
        // (refused, TLS, auth), where the pool would wait out its timeout.
        let deadline = Instant::now() + Duration::from_secs(options.startup_timeout_secs);
        let mut backoff = Duration::from_millis(200);
        let first = loop {
            match r2d2::ManageConnection::connect(&manager) {
                Ok(conn) => break conn,
                Err(e) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(format!(
                            "cannot connect to PostgreSQL within {}s: {e}",
                            options.startup_timeout_secs
                        ));
                    }
                    let pause = backoff.min(deadline - now);
                    tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "PostgreSQL not reachable yet");
                    std::thread::sleep(pause);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        };
        drop(first);
        let pool = Pool::builder()
            .max_size(options.pool_size)
            // Open connections on demand: many replicas (and parallel tests)
            // would otherwise hold max_size connections each from the start.
            .min_idle(Some(0))
            // A broken connection is noticed by its failing query (then
            // discarded); a check on every checkout would cost a round trip.
            .test_on_check_out(false)
            .connection_timeout(Duration::from_millis(options.pool_timeout_ms))
            .build_unchecked(manager);
        Ok(PgStore {
            pools: Arc::new(Pools {
                primary: Some(pool),
                replica,
            }),
            reads: ReadFrom::Primary,
        })
    }

    fn pool(&self) -> &Pool<Manager> {
        self.pools
            .primary
            .as_ref()
            .expect("the pool is present until the store is dropped")
    }

    fn conn(&self) -> StoreResult<PooledConnection<Manager>> {
        super::checkout(self.pool())
    }

    /// Runs one statement (or independent ones) without a transaction.
    fn direct<T>(
        &self,
        f: impl FnOnce(&mut Session<'_, Client>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut conn = self.conn()?;
        let PgConnection {
            client, statements, ..
        } = &mut *conn;
        f(&mut Session { client, statements })
    }

    /// Runs a read on the replica when [`PgStore::reads`] allows it and the
    /// replica can serve it, else on the primary. An error of the replica's
    /// own is never the reader's answer: the primary is asked instead.
    fn read<T>(
        &self,
        mut f: impl FnMut(&mut Session<'_, Client>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let after = match self.reads {
            ReadFrom::Primary => return self.direct(f),
            ReadFrom::AnyReplica => None,
            ReadFrom::After(position) => Some(position),
        };
        let Some(replica) = &self.pools.replica else {
            return self.direct(f);
        };
        if let Some(mut conn) = replica.checkout(after) {
            let PgConnection {
                client, statements, ..
            } = &mut *conn;
            match f(&mut Session { client, statements }) {
                Err(StoreError::NotFound(_)) if after.is_none() => {
                    // Perhaps written a moment ago by a reader that does not
                    // send its position back.
                    replica::count("not_found");
                }
                Err(StoreError::Unavailable(cause) | StoreError::Backend(cause)) => {
                    replica.rest(&cause.to_string());
                }
                answer => {
                    replica::count("replica");
                    return answer;
                }
            }
        }
        self.direct(f)
    }

    /// Runs `f` in a transaction and commits it.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut Session<'_, postgres::Transaction<'_>>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut conn = self.conn()?;
        let PgConnection {
            client, statements, ..
        } = &mut *conn;
        let mut tx = client.transaction()?;
        let value = f(&mut Session {
            client: &mut tx,
            statements,
        })?;
        tx.commit()?;
        Ok(value)
    }
}

/// The connection manager for `url`, with the pool's statement timeout.
fn connection_manager(url: &str, options: &PoolOptions) -> Result<Manager, String> {
    connection_manager_with(url, options, None)
}

/// [`connection_manager`]; a user or password the URL leaves out is taken
/// from `credentials` (the primary's): a replica's URL then names only
/// where it is, and can live in a ConfigMap while the password stays in
/// the database Secret.
fn connection_manager_with(
    url: &str,
    options: &PoolOptions,
    credentials: Option<&postgres::Config>,
) -> Result<Manager, String> {
    let target = sslmode::parse_url(url)?;
    let tls = tls::connector(&target.verify)?;
    let mut config = target.config;
    if let Some(primary) = credentials {
        if config.get_user().is_none() {
            if let Some(user) = primary.get_user() {
                config.user(user);
            }
        }
        if config.get_password().is_none() {
            if let Some(password) = primary.get_password() {
                config.password(password);
            }
        }
    }
    with_session_settings(&mut config, options.statement_timeout);
    Ok(Manager {
        inner: PostgresConnectionManager::new(config, tls),
    })
}

/// Sets the session settings every pooled connection needs as startup
/// options (no extra round trip), unless the URL's `options` set them:
///
/// - `statement_timeout`, so a request that timed out stops its query;
/// - `plan_cache_mode = force_generic_plan`: every statement here is
///   prepared once per connection and written to be planned without its
///   parameters (see `articles.rs`). Left to choose, PostgreSQL planned the
///   list query anew on every run, since a generic plan's guess for
///   `LIMIT $n` (a tenth of the table) makes it look dearer than a custom
///   one: planning took as long as running it (0.11 ms of 0.23 ms, measured
///   with `EXPLAIN ANALYZE` at 1,000 articles);
/// - `jit = off`: that same guess puts a generic list plan's cost above
///   `jit_above_cost` once the table is large, and compiling it took 9 ms
///   of a 9.3 ms query (at 100,000 articles). These queries touch a few
///   dozen rows; compiling never pays.
fn with_session_settings(config: &mut postgres::Config, timeout: Duration) {
    let mut options = config.get_options().unwrap_or("").to_owned();
    for (name, value) in [
        ("statement_timeout", timeout.as_millis().max(1).to_string()),
        ("plan_cache_mode", "force_generic_plan".to_owned()),
        ("jit", "off".to_owned()),
    ] {
        if !options.contains(&format!("{name}=")) {
            if !options.is_empty() {
                options.push(' ');
            }
            options.push_str(&format!("-c {name}={value}"));
        }
    }
    config.options(options.as_str());
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let code = db.code();
            if *code == SqlState::UNIQUE_VIOLATION {
                return match db.constraint() {
                    Some("users_username_key") => StoreError::Conflict(UniqueKey::Username),
                    Some("users_email_key") => StoreError::Conflict(UniqueKey::Email),
                    Some("articles_slug_key") => StoreError::Conflict(UniqueKey::Slug),
                    _ => StoreError::Backend(e.into()),
                };
            }
            // Class 08 (connection), 57P0x (shutdown, cannot connect now),
            // 53300 (too many connections), 57014 (cancelled by
            // statement_timeout): worth retrying later.
            let code = code.code();
            if code.starts_with("08")
                || code.starts_with("57P")
                || code == "53300"
                || code == "57014"
            {
                return StoreError::Unavailable(e.into());
            }
            return StoreError::Backend(e.into());
        }
        if e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>())
        {
            return StoreError::Unavailable(e.into());
        }
        StoreError::Backend(e.into())
    }
}

impl Session<'_, Client> {
    /// Runs `f` in a read-only transaction whose statements are planned for
    /// their parameters at each run (`plan_cache_mode`, set for this
    /// transaction only): for statements whose best plan depends on the
    /// values, which the generic plans every other statement uses cannot
    /// see. Their reads also share one snapshot.
    fn planned_for_values<T>(
        &mut self,
        f: impl FnOnce(&mut Session<'_, Transaction<'_>>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut tx = self.client.build_transaction().read_only(true).start()?;
        tx.batch_execute("SET LOCAL plan_cache_mode = force_custom_plan")?;
        let value = f(&mut Session {
            client: &mut tx,
            statements: self.statements,
        })?;
        tx.commit()?;
        Ok(value)
    }
}

/// A client (or transaction) plus its connection's statement cache.
struct Session<'a, C: GenericClient> {
    client: &'a mut C,
    statements: &'a mut HashMap<String, Statement>,
}

impl<C: GenericClient> Session<'_, C> {
    fn statement(&mut self, sql: &str) -> StoreResult<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    fn query(&mut self, sql: &str, params: &[Param<'_>]) -> StoreResult<Vec<Row>> {
        let _span = spans::statement("postgresql", sql).entered();
        let statement = self.statement(sql)?;
        Ok(self.client.query(&statement, params)?)
    }

    /// Exactly one row, from a query that always returns one.
    fn one(&mut self, sql: &str, params: &[Param<'_>]) -> StoreResult<Row> {
        self.opt(sql, params)?
            .ok_or_else(|| StoreError::Backend(format!("no row from {sql:?}").into()))
    }

    /// The row a lookup found; `NotFound(what)` when there is none.
    fn found(&mut self, sql: &str, params: &[Param<'_>], what: Entity) -> StoreResult<Row> {
        self.opt(sql, params)?.ok_or(StoreError::NotFound(what))
    }

    fn opt(&mut self, sql: &str, params: &[Param<'_>]) -> StoreResult<Option<Row>> {
        let _span = spans::statement("postgresql", sql).entered();
        let statement = self.statement(sql)?;
        Ok(self.client.query_opt(&statement, params)?)
    }

    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> StoreResult<u64> {
        let _span = spans::statement("postgresql", sql).entered();
        let statement = self.statement(sql)?;
        Ok(self.client.execute(&statement, params)?)
    }
}

fn to_time(ts: Timestamp) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ts.0.max(0) as u64)
}

fn from_time(time: SystemTime) -> Timestamp {
    Timestamp(
        time.duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    )
}

fn viewer_id(viewer: Option<UserId>) -> Option<i64> {
    viewer.map(|v| v.0)
}

impl Store for PgStore {
    fn migrate(&self) -> StoreResult<Vec<AppliedMigration>> {
        self.write(schema::migrate)
    }

    fn applied_migrations(&self) -> StoreResult<Vec<migrate::Recorded>> {
        self.direct(schema::applied_migrations)
    }

    fn setting_or_insert(&self, key: &str, candidate: &str) -> StoreResult<String> {
        self.write(|s| schema::setting_or_insert(s, key, candidate))
    }

    fn create_user(&self, user: &NewUser, password_hash: &str) -> StoreResult<UserRecord> {
        self.direct(|s| users::create(s, user, password_hash))
    }

    fn user_by_id(&self, id: UserId) -> StoreResult<UserRecord> {
        self.direct(|s| users::by_id(s, id))
    }

    fn token_user(&self, id: UserId, token: &TokenDigest) -> StoreResult<(UserRecord, bool)> {
        self.direct(|s| users::by_token(s, id, token))
    }

    fn sign_out_token(&self, token: &TokenDigest, expires_at: i64) -> StoreResult<()> {
        self.direct(|s| users::sign_out_token(s, token, expires_at))
    }

    fn user_by_email(&self, email_key: &str) -> StoreResult<Option<UserRecord>> {
        self.direct(|s| users::by_email(s, email_key))
    }

    fn update_user(
        &self,
        id: UserId,
        changes: &UserChanges,
        password_hash: Option<&str>,
    ) -> StoreResult<UserRecord> {
        self.direct(|s| users::update(s, id, changes, password_hash))
    }

    fn profile(&self, viewer: Option<UserId>, username: &str) -> StoreResult<Profile> {
        self.read(|s| profiles::profile(s, viewer, username))
    }

    fn follow(&self, follower: UserId, username: &str) -> StoreResult<Profile> {
        self.write(|s| profiles::follow(s, follower, username))
    }

    fn unfollow(&self, follower: UserId, username: &str) -> StoreResult<Profile> {
        self.write(|s| profiles::unfollow(s, follower, username))
    }

    fn insert_article(
        &self,
        author: UserId,
        slug: &str,
        article: &NewArticle,
    ) -> StoreResult<ArticleView> {
        self.write(|s| articles::insert(s, author, slug, article))
    }

    fn article(&self, viewer: Option<UserId>, slug: &str) -> StoreResult<ArticleView> {
        self.read(|s| articles::get(s, viewer, slug))
    }

    fn update_article(
        &self,
        editor: UserId,
        slug: &str,
        changes: &ArticleChanges,
        new_slug: Option<&str>,
    ) -> StoreResult<ArticleView> {
        self.write(|s| articles::update(s, editor, slug, changes, new_slug))
    }

    fn delete_article(&self, editor: UserId, slug: &str) -> StoreResult<()> {
        self.write(|s| articles::delete(s, editor, slug))
    }

    fn check_article_editor(&self, editor: UserId, slug: &str) -> StoreResult<()> {
        self.direct(|s| articles::check_editor(s, editor, slug))
    }

    fn list_articles(
        &self,
        viewer: Option<UserId>,
        filter: &ArticleFilter,
        page: Page,
    ) -> StoreResult<ArticlePage> {
        self.read(|s| listing::list_articles(s, viewer, filter, page))
    }

    fn feed(&self, viewer: UserId, page: Page) -> StoreResult<ArticlePage> {
        self.read(|s| listing::feed(s, viewer, page))
    }

    fn search_articles(
        &self,
        viewer: Option<UserId>,
        query: &SearchQuery,
        page: Page,
    ) -> StoreResult<ArticlePage> {
        self.read(|s| listing::search(s, viewer, query, page))
    }

    fn latest_articles(&self, filter: &ArticleFilter, limit: i64) -> StoreResult<Vec<FeedEntry>> {
        self.read(|s| listing::latest(s, filter, limit))
    }

    fn sitemap_blocks(&self, block: i64) -> StoreResult<(Vec<i64>, Vec<i64>)> {
        self.read(|s| listing::sitemap_blocks(s, block))
    }

    fn sitemap_articles(&self, ids: std::ops::Range<i64>) -> StoreResult<Vec<SitemapEntry>> {
        self.read(|s| listing::sitemap_articles(s, &ids))
    }

    fn sitemap_profiles(&self, ids: std::ops::Range<i64>) -> StoreResult<Vec<SitemapEntry>> {
        self.read(|s| listing::sitemap_profiles(s, &ids))
    }

    fn favorite(&self, user: UserId, slug: &str) -> StoreResult<ArticleView> {
        self.write(|s| articles::favorite(s, user, slug))
    }

    fn unfavorite(&self, user: UserId, slug: &str) -> StoreResult<ArticleView> {
        self.write(|s| articles::unfavorite(s, user, slug))
    }

    fn add_comment(&self, author: UserId, slug: &str, body: &str) -> StoreResult<CommentView> {
        self.write(|s| comments::add(s, author, slug, body))
    }

    fn comments(&self, viewer: Option<UserId>, slug: &str) -> StoreResult<Vec<CommentView>> {
        self.read(|s| comments::list(s, viewer, slug))
    }

    fn delete_comment(&self, user: UserId, slug: &str, id: i64) -> StoreResult<()> {
        self.write(|s| comments::delete(s, user, slug, id))
    }

    fn check_article_exists(&self, slug: &str) -> StoreResult<()> {
        self.read(|s| comments::check_article_exists(s, slug))
    }

    fn tags(&self) -> StoreResult<Vec<String>> {
        self.read(listing::tags)
    }

    fn pool_state(&self) -> PoolState {
        super::state_of(self.pool())
    }

    fn reading(self: Arc<Self>, from: ReadFrom) -> Arc<dyn Store> {
        if self.pools.replica.is_none() || from == self.reads {
            return self;
        }
        Arc::new(PgStore {
            pools: Arc::clone(&self.pools),
            reads: from,
        })
    }

    fn has_read_replica(&self) -> bool {
        self.pools.replica.is_some()
    }

    fn written_position(&self) -> StoreResult<Option<WalPosition>> {
        if self.pools.replica.is_none() {
            return Ok(None);
        }
        // Taken after the write has committed, so at or past its commit
        // record (the insert position also counts a commit that is not
        // flushed yet, as with synchronous_commit = off).
        let row = self.direct(|s| {
            s.one(
                "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint",
                &[],
            )
        })?;
        Ok(Some(WalPosition(row.get::<_, i64>(0) as u64)))
    }

    fn attempt_ledger(&self) -> Option<&dyn AttemptLedger> {
        Some(self)
    }
}

impl AttemptLedger for PgStore {
    fn count_attempt(
        &self,
        key: &AttemptKey,
        slice_ms: i64,
        span: i64,
        max: i64,
    ) -> StoreResult<AttemptCounts> {
        self.write(|s| attempts::count(s, key, slice_ms, span, max))
    }

    fn forgive_attempt(&self, key: &AttemptKey, slice: i64) -> StoreResult<()> {
        self.direct(|s| attempts::forgive(s, key, slice))
    }

    fn sweep_attempts(&self) -> StoreResult<u64> {
        self.direct(attempts::sweep)
    }
}
