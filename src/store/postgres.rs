//! The PostgreSQL backend: the synchronous `postgres` client pooled with
//! r2d2 (`r2d2_postgres`), TLS through rustls ([`super::pg_tls`]).
//!
//! Each pooled connection keeps the statements it has prepared, so a query
//! is parsed and planned once per connection and afterwards costs one round
//! trip. Multi-statement writes run in one transaction; a list's page and
//! count are one statement, so they share its snapshot.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, GenericClient, Row, Statement};
use r2d2::{Pool, PooledConnection};
use r2d2_postgres::PostgresConnectionManager;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::pg_tls;
use super::{
    migrate, AppliedMigration, PoolOptions, PoolState, Store, StoreError, StoreResult, UniqueKey,
};
use crate::domain::article::{ArticleChanges, ArticleFilter, NewArticle, Page};
use crate::domain::user::{NewUser, UserChanges};
use crate::domain::views::{ArticlePage, ArticleView, CommentView, Profile, Timestamp, UserRecord};
use crate::domain::UserId;

/// Key of the advisory lock that serializes `conduit migrate` runs.
const MIGRATION_LOCK: i64 = 0x0063_6f6e_6475_6974; // "conduit" in ASCII

type Param<'a> = &'a (dyn ToSql + Sync);

/// A pooled client and the statements prepared on it.
pub struct PgConnection {
    client: Client,
    statements: HashMap<String, Statement>,
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
        })
    }

    fn is_valid(&self, conn: &mut PgConnection) -> Result<(), postgres::Error> {
        self.inner.is_valid(&mut conn.client)
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        self.inner.has_broken(&mut conn.client)
    }
}

pub struct PgStore {
    /// Always `Some` until the store is dropped (see `Drop`).
    pool: Option<Pool<Manager>>,
}

impl Drop for PgStore {
    /// Closing a synchronous client blocks on its own small runtime, which
    /// panics on an async runtime's thread; the last owner of the store is
    /// often one. So the connections are closed on a plain thread.
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                let _ = std::thread::spawn(move || drop(pool)).join();
            }
        }
    }
}

impl PgStore {
    /// Connects, retrying with backoff for `startup_timeout` (the database
    /// may start after us), then fails with the last reason.
    pub fn open(url: &str, options: &PoolOptions) -> Result<Self, String> {
        let target = pg_tls::parse_url(url)?;
        let tls = pg_tls::connector(&target.verify)?;
        let mut config = target.config;
        with_statement_timeout(&mut config, options.statement_timeout);
        let manager = Manager {
            inner: PostgresConnectionManager::new(config, tls),
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
        Ok(PgStore { pool: Some(pool) })
    }

    fn pool(&self) -> &Pool<Manager> {
        self.pool
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
        let PgConnection { client, statements } = &mut *conn;
        f(&mut Session { client, statements })
    }

    /// Runs `f` in a transaction and commits it.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut Session<'_, postgres::Transaction<'_>>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut conn = self.conn()?;
        let PgConnection { client, statements } = &mut *conn;
        let mut tx = client.transaction()?;
        let value = f(&mut Session {
            client: &mut tx,
            statements,
        })?;
        tx.commit()?;
        Ok(value)
    }
}

/// Sets `statement_timeout` for every pooled connection as a startup
/// option (no extra round trip), unless the URL's `options` set one.
fn with_statement_timeout(config: &mut postgres::Config, timeout: Duration) {
    let existing = config.get_options().unwrap_or("").to_owned();
    if existing.contains("statement_timeout") {
        return;
    }
    let ours = format!("-c statement_timeout={}", timeout.as_millis().max(1));
    config.options(
        if existing.is_empty() {
            ours
        } else {
            format!("{existing} {ours}")
        }
        .as_str(),
    );
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
                    _ => StoreError::Backend(e.to_string()),
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
                return StoreError::Unavailable(e.to_string());
            }
            return StoreError::Backend(e.to_string());
        }
        if e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>())
        {
            return StoreError::Unavailable(e.to_string());
        }
        StoreError::Backend(e.to_string())
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
        let statement = self.statement(sql)?;
        Ok(self.client.query(&statement, params)?)
    }

    /// Exactly one row; `NotFound` when there is none.
    fn one(&mut self, sql: &str, params: &[Param<'_>]) -> StoreResult<Row> {
        self.opt(sql, params)?.ok_or(StoreError::NotFound)
    }

    fn opt(&mut self, sql: &str, params: &[Param<'_>]) -> StoreResult<Option<Row>> {
        let statement = self.statement(sql)?;
        Ok(self.client.query_opt(&statement, params)?)
    }

    fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> StoreResult<u64> {
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

// ---- read models -----------------------------------------------------------

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
const ARTICLE_LIST_COLUMNS: &str = article_columns!("NULL::text");
/// For anonymous readers the flags are known to be false: no lookups
/// (`$1` still appears, typed, so parameters keep their numbers).
const ARTICLE_LIST_COLUMNS_ANONYMOUS: &str = "SELECT a.slug, a.title, a.description, NULL::text, \
     a.created_at, a.updated_at, a.favorites_count, $1::bigint IS NOT NULL, u.username, u.bio, u.image, \
     false, a.tag_list";

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
        AUTHOR = author_of_a!()
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

/// How many columns [`article_from_row`] reads.
const ARTICLE_COLUMNS: usize = 13;

fn article_from_row(row: &Row) -> ArticleView {
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

fn viewer_id(viewer: Option<UserId>) -> Option<i64> {
    viewer.map(|v| v.0)
}

fn article_by_id<C: GenericClient>(
    s: &mut Session<'_, C>,
    viewer: Option<UserId>,
    id: i64,
) -> StoreResult<ArticleView> {
    Ok(article_from_row(
        &s.one(ARTICLE_BY_ID, &[&viewer_id(viewer), &id])?,
    ))
}

const USER_BY_ID: &str =
    "SELECT id, username, email, bio, image, password_hash, credential_version FROM users WHERE id = $1";
const USER_BY_EMAIL: &str =
    "SELECT id, username, email, bio, image, password_hash, credential_version FROM users WHERE email_key = $1";

fn user_from_row(row: &Row) -> UserRecord {
    UserRecord {
        id: UserId(row.get(0)),
        username: row.get(1),
        email: row.get(2),
        bio: row.get(3),
        image: row.get(4),
        password_hash: row.get(5),
        credential_version: row.get(6),
    }
}

/// `(id, profile without following)` of `username`, any case.
fn user_by_name<C: GenericClient>(
    s: &mut Session<'_, C>,
    username: &str,
) -> StoreResult<(i64, Profile)> {
    let row = s.one(
        "SELECT id, username, bio, image FROM users WHERE lower(username) = lower($1)",
        &[&username],
    )?;
    Ok((
        row.get(0),
        Profile {
            username: row.get(1),
            bio: row.get(2),
            image: row.get(3),
            following: false,
        },
    ))
}

/// `(id, author_id)` of the article with `slug`.
fn article_ids<C: GenericClient>(s: &mut Session<'_, C>, slug: &str) -> StoreResult<(i64, i64)> {
    let row = s.one(
        "SELECT id, author_id FROM articles WHERE slug = $1",
        &[&slug],
    )?;
    Ok((row.get(0), row.get(1)))
}

fn editable_article<C: GenericClient>(
    s: &mut Session<'_, C>,
    editor: UserId,
    slug: &str,
) -> StoreResult<i64> {
    let (id, author) = article_ids(s, slug)?;
    if author != editor.0 {
        return Err(StoreError::Forbidden);
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

/// The rows of `schema_migrations`. Read through `to_jsonb` so the query
/// works before `checksum` exists (a release older than checksums may
/// have migrated this database last).
fn recorded_migrations(client: &mut impl GenericClient) -> StoreResult<Vec<migrate::Recorded>> {
    let rows = client.query(
        "SELECT version, name, to_jsonb(m) ->> 'checksum' FROM schema_migrations m ORDER BY version",
        &[],
    )?;
    Ok(rows
        .iter()
        .map(|r| migrate::Recorded {
            version: r.get(0),
            name: r.get(1),
            checksum: r.get(2),
        })
        .collect())
}

impl Store for PgStore {
    fn migrate(&self) -> StoreResult<Vec<AppliedMigration>> {
        self.write(|s| {
            // Held until commit: concurrent migrators wait here, then find
            // nothing pending.
            // Migrations take as long as they take; waiting for the lock too.
            s.client.batch_execute("SET LOCAL statement_timeout = 0")?;
            s.client
                .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
            s.client.batch_execute(migrate::CREATE_HISTORY_POSTGRES)?;
            // Only when missing: the ALTER would lock the history table
            // for the rest of the transaction even as a no-op.
            let has_checksum: bool = s
                .client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = \
                     to_regclass('schema_migrations') AND attname = 'checksum' AND NOT attisdropped)",
                    &[],
                )?
                .get(0);
            if !has_checksum {
                s.client.batch_execute(migrate::ADD_CHECKSUM)?;
            }
            let recorded = recorded_migrations(s.client)?;
            migrate::verify(migrate::POSTGRES_FOLDER, migrate::POSTGRES, &recorded)
                .map_err(StoreError::Schema)?;
            for m in migrate::POSTGRES {
                s.client.execute(
                    "UPDATE schema_migrations SET checksum = $2 WHERE version = $1 AND checksum IS NULL",
                    &[&m.version, &m.checksum()],
                )?;
            }
            let current = recorded.iter().map(|r| r.version).max().unwrap_or(0);
            let mut applied = Vec::new();
            for m in migrate::pending(migrate::POSTGRES, current) {
                s.client.batch_execute(m.sql)?;
                s.client.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at, checksum) \
                     VALUES ($1, $2, now(), $3)",
                    &[&m.version, &m.name, &m.checksum()],
                )?;
                applied.push(AppliedMigration {
                    version: m.version,
                    name: m.name.to_owned(),
                });
            }
            Ok(applied)
        })
    }

    fn applied_migrations(&self) -> StoreResult<Vec<migrate::Recorded>> {
        self.direct(|s| {
            let exists: bool = s
                .client
                .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])?
                .get(0);
            if !exists {
                return Ok(Vec::new());
            }
            recorded_migrations(s.client)
        })
    }

    fn setting_or_insert(&self, key: &str, candidate: &str) -> StoreResult<String> {
        self.write(|s| {
            s.execute(
                "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                &[&key, &candidate],
            )?;
            Ok(s.one("SELECT value FROM settings WHERE key = $1", &[&key])?
                .get(0))
        })
    }

    fn create_user(&self, user: &NewUser, password_hash: &str) -> StoreResult<UserRecord> {
        self.direct(|s| {
            let now = to_time(Timestamp::now());
            let row = s.one(
                "INSERT INTO users (username, email, email_key, password_hash, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) \
                 RETURNING id, username, email, bio, image, password_hash, credential_version",
                &[&user.username.as_str(), &user.email.as_str(), &user.email.key(), &password_hash, &now],
            )?;
            Ok(user_from_row(&row))
        })
    }

    fn user_by_id(&self, id: UserId) -> StoreResult<UserRecord> {
        self.direct(|s| Ok(user_from_row(&s.one(USER_BY_ID, &[&id.0])?)))
    }

    fn user_by_email(&self, email_key: &str) -> StoreResult<Option<UserRecord>> {
        self.direct(|s| {
            Ok(s.opt(USER_BY_EMAIL, &[&email_key])?
                .as_ref()
                .map(user_from_row))
        })
    }

    fn update_user(
        &self,
        id: UserId,
        changes: &UserChanges,
        password_hash: Option<&str>,
    ) -> StoreResult<UserRecord> {
        self.direct(|s| {
            let bump = i64::from(password_hash.is_some());
            let row = s.one(
                "UPDATE users SET \
                 username = coalesce($2, username), \
                 email = coalesce($3, email), email_key = coalesce($4, email_key), \
                 password_hash = coalesce($5, password_hash), \
                 credential_version = credential_version + $6, \
                 bio = coalesce($7, bio), image = coalesce($8, image), updated_at = $9 \
                 WHERE id = $1 \
                 RETURNING id, username, email, bio, image, password_hash, credential_version",
                &[
                    &id.0,
                    &changes.username.as_ref().map(|u| u.as_str()),
                    &changes.email.as_ref().map(|e| e.as_str()),
                    &changes.email.as_ref().map(|e| e.key()),
                    &password_hash,
                    &bump,
                    &changes.bio,
                    &changes.image,
                    &to_time(Timestamp::now()),
                ],
            )?;
            Ok(user_from_row(&row))
        })
    }

    fn profile(&self, viewer: Option<UserId>, username: &str) -> StoreResult<Profile> {
        self.direct(|s| {
            let row = s.one(
                "SELECT u.username, u.bio, u.image, \
                 EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = $1 AND f.followee_id = u.id) \
                 FROM users u WHERE lower(u.username) = lower($2)",
                &[&viewer_id(viewer), &username],
            )?;
            Ok(Profile {
                username: row.get(0),
                bio: row.get(1),
                image: row.get(2),
                following: row.get(3),
            })
        })
    }

    fn follow(&self, follower: UserId, username: &str) -> StoreResult<Profile> {
        self.write(|s| {
            let (id, mut profile) = user_by_name(s, username)?;
            if id == follower.0 {
                return Err(StoreError::Invalid("you cannot follow yourself".into()));
            }
            s.execute(
                "INSERT INTO follows (follower_id, followee_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&follower.0, &id],
            )?;
            profile.following = true;
            Ok(profile)
        })
    }

    fn unfollow(&self, follower: UserId, username: &str) -> StoreResult<Profile> {
        self.write(|s| {
            let (id, profile) = user_by_name(s, username)?;
            s.execute(
                "DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2",
                &[&follower.0, &id],
            )?;
            Ok(profile)
        })
    }

    fn insert_article(
        &self,
        author: UserId,
        slug: &str,
        article: &NewArticle,
    ) -> StoreResult<ArticleView> {
        self.write(|s| {
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
            article_by_id(s, Some(author), id)
        })
    }

    fn article(&self, viewer: Option<UserId>, slug: &str) -> StoreResult<ArticleView> {
        self.direct(|s| {
            Ok(article_from_row(
                &s.one(ARTICLE_BY_SLUG, &[&viewer_id(viewer), &slug])?,
            ))
        })
    }

    fn update_article(
        &self,
        editor: UserId,
        slug: &str,
        changes: &ArticleChanges,
        new_slug: Option<&str>,
    ) -> StoreResult<ArticleView> {
        self.write(|s| {
            let id = editable_article(s, editor, slug)?;
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
                s.execute("UPDATE articles SET tag_list = $2 WHERE id = $1", &[&id, tags])?;
            }
            article_by_id(s, Some(editor), id)
        })
    }

    fn delete_article(&self, editor: UserId, slug: &str) -> StoreResult<()> {
        self.write(|s| {
            let id = editable_article(s, editor, slug)?;
            s.execute("DELETE FROM articles WHERE id = $1", &[&id])?;
            Ok(())
        })
    }

    fn check_article_editor(&self, editor: UserId, slug: &str) -> StoreResult<()> {
        self.direct(|s| editable_article(s, editor, slug).map(|_| ()))
    }

    fn list_articles(
        &self,
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
        self.direct(|s| page_from_rows(&s.query(&sql, &params)?))
    }

    fn feed(&self, viewer: UserId, page: Page) -> StoreResult<ArticlePage> {
        const FOLLOWED: &str =
            " WHERE a.author_id IN (SELECT followee_id FROM follows WHERE follower_id = $1)";
        let sql = page_sql(
            FOLLOWED,
            &format!("SELECT count(*) AS n FROM articles a{FOLLOWED}"),
            2,
            3,
            false,
        );
        self.direct(|s| {
            page_from_rows(&s.query(&sql, &[&Some(viewer.0), &page.limit, &page.offset])?)
        })
    }

    fn favorite(&self, user: UserId, slug: &str) -> StoreResult<ArticleView> {
        self.write(|s| {
            let (id, _) = article_ids(s, slug)?;
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
            article_by_id(s, Some(user), id)
        })
    }

    fn unfavorite(&self, user: UserId, slug: &str) -> StoreResult<ArticleView> {
        self.write(|s| {
            let (id, _) = article_ids(s, slug)?;
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
            article_by_id(s, Some(user), id)
        })
    }

    fn add_comment(&self, author: UserId, slug: &str, body: &str) -> StoreResult<CommentView> {
        self.write(|s| {
            let (article_id, _) = article_ids(s, slug)?;
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
        })
    }

    fn comments(&self, viewer: Option<UserId>, slug: &str) -> StoreResult<Vec<CommentView>> {
        self.direct(|s| {
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
                article_ids(s, slug)?;
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
        })
    }

    fn delete_comment(&self, user: UserId, slug: &str, id: i64) -> StoreResult<()> {
        self.write(|s| {
            let (article_id, _) = article_ids(s, slug)?;
            let author: i64 = s
                .one(
                    "SELECT author_id FROM comments WHERE id = $1 AND article_id = $2",
                    &[&id, &article_id],
                )?
                .get(0);
            if author != user.0 {
                return Err(StoreError::Forbidden);
            }
            s.execute("DELETE FROM comments WHERE id = $1", &[&id])?;
            Ok(())
        })
    }

    fn check_article_exists(&self, slug: &str) -> StoreResult<()> {
        self.direct(|s| article_ids(s, slug).map(|_| ()))
    }

    fn tags(&self) -> StoreResult<Vec<String>> {
        self.direct(|s| {
            Ok(s.query(
                "SELECT tag FROM tag_counts ORDER BY uses DESC, tag COLLATE \"C\"",
                &[],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })
    }

    fn pool_state(&self) -> PoolState {
        super::state_of(self.pool())
    }
}
