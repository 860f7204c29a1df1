//! Wiring: from a [`Config`] to a running server.
//!
//! [`App::build`] opens the store, migrates it when that is this process's
//! job, settles the token secret and builds the shared context;
//! [`App::serve`] serves on a listener the caller bound (tests bind port 0)
//! until the shutdown future completes.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::auth::jwt::Tokens;
use crate::auth::limits::Limits;
use crate::auth::password::Passwords;
use crate::config::Config;
use crate::http::client::TrustedProxies;
use crate::http::cors::Cors;
use crate::http::site::SiteConfig;
use crate::http::{self, Ctx};
use crate::server::{self, ServerOptions};
use crate::store::{self, migrate, DatabaseUrl, Db, Store};
use crate::web;

/// The settings key of the generated token secret (SQLite only).
const SECRET_SETTING: &str = "jwt_secret";

const PG_SECRET_REQUIRED: &str =
    "secret: required on PostgreSQL (replicas must share it); set CONDUIT_SECRET";

pub struct App {
    ctx: Ctx,
    cors: Cors,
    server: ServerOptions,
}

impl App {
    /// Opens and migrates the database and prepares keys. Errors are one
    /// line, fit for the operator.
    pub async fn build(config: &Config) -> Result<App, String> {
        let database = config.database();
        if matches!(database, DatabaseUrl::Postgres(_)) && config.secret.is_none() {
            // Checked before connecting: replicas must share one secret.
            return Err(PG_SECRET_REQUIRED.into());
        }
        let options = config.pool_options();
        let replica = config.read_replica();
        let migrate = config.migrate_on_start;
        let configured_secret = config.secret.as_ref().map(|s| s.expose().to_owned());
        let (store, secret) = tokio::task::spawn_blocking(move || {
            let store = store::open_with_replica(&database, replica.as_ref(), &options)?;
            prepare_schema(store.as_ref(), &database, migrate)?;
            let secret = resolve_secret(store.as_ref(), configured_secret, &database)?;
            Ok::<_, String>((store, secret))
        })
        .await
        .map_err(|e| format!("startup task failed: {e}"))??;

        let tokens = Tokens::new(
            secret.as_bytes(),
            config
                .previous_secret
                .as_ref()
                .map(|s| s.expose().as_bytes()),
            config.token_lifetime_secs,
        );
        // Register the metrics now: their construction asserts invariants
        // (unique names), which must fail at start, never on a request.
        std::sync::LazyLock::force(&crate::telemetry::metrics::METRICS);
        let passwords = Passwords::new(config.scrypt, config.hash_concurrency, config.hash_queue)
            .map_err(|e| format!("scrypt: {e}"))?;
        let schema_needed = migrate::latest(match config.database() {
            DatabaseUrl::Sqlite(_) => migrate::SQLITE,
            DatabaseUrl::Postgres(_) => migrate::POSTGRES,
        });
        let db = Db::new(store);
        // A database several replicas share keeps the abuse-limit counts,
        // so the limits hold whatever the replica count.
        let limits = match db.store().attempt_ledger() {
            Some(_) => Limits::shared(&config.limits, &db, secret.as_bytes()),
            None => Limits::in_memory(&config.limits),
        };
        if config.public_origin.is_none() && !config.listen.ip().is_loopback() {
            tracing::warn!(
                origin = %crate::http::site::origin(None, config.listen),
                "public_origin is not set: feeds, the sitemap and canonical links name this \
                 server by its listen address; set CONDUIT_PUBLIC_ORIGIN to the address readers use"
            );
        }
        Ok(App {
            ctx: Ctx {
                db,
                tokens: Arc::new(tokens),
                passwords,
                limits: Arc::new(limits),
                max_body_bytes: config.max_body_bytes,
                draining: Arc::new(AtomicBool::new(false)),
                schema_needed,
                site: SiteConfig {
                    base_path: config.public_base_path.clone(),
                    origin: crate::http::site::origin(
                        config.public_origin.as_deref(),
                        config.listen,
                    ),
                    cookie_secure: config.cookie_secure,
                },
            },
            cors: Cors::new(&config.cors_origins)?,
            server: ServerOptions {
                request_timeout: Duration::from_secs(config.request_timeout_secs),
                header_read_timeout: Duration::from_secs(config.header_read_timeout_secs),
                drain: Duration::from_secs(config.drain_secs),
                max_connections: config.max_connections,
                max_in_flight: config.max_in_flight,
                trusted_proxies: TrustedProxies::parse(&config.trusted_proxies)?,
            },
        })
    }

    /// Serves the API on `listener` (and `/metrics` on `metrics` when
    /// given, else on the API's listener) until `shutdown` completes; then
    /// drains open requests for up to the drain period. Returns whether
    /// every request finished in time.
    pub async fn serve(
        self,
        listener: TcpListener,
        metrics: Option<TcpListener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> bool {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let metrics_server = metrics.map(|listener| {
            let routes = http::metrics_routes(self.ctx.clone());
            let options = self.server.clone();
            let draining = Arc::new(AtomicBool::new(false));
            tokio::spawn(server::serve(
                listener,
                routes,
                options,
                draining,
                stopped(stop_rx.clone()),
            ))
        });
        let routes = http::routes(
            self.ctx.clone(),
            self.cors,
            metrics_server.is_none(),
            web::SITE,
        );
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let sweeper = self
            .ctx
            .db
            .store()
            .attempt_ledger()
            .map(|_| tokio::spawn(sweep_attempt_counts(self.ctx.db.clone())));
        let drained = server::serve(
            listener,
            routes,
            self.server,
            self.ctx.draining.clone(),
            stopped(stop_rx),
        )
        .await;
        if let Some(metrics_server) = metrics_server {
            let _ = metrics_server.await;
        }
        if let Some(sweeper) = sweeper {
            sweeper.abort();
        }
        drained
    }
}

/// How often expired abuse-limit counts are removed from a shared database.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Removes expired abuse-limit counts, forever. Every replica runs it;
/// deleting what another already deleted costs nothing.
async fn sweep_attempt_counts(db: Db) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let swept = db
            .run(|store| store.attempt_ledger().map_or(Ok(0), |l| l.sweep_attempts()))
            .await;
        match swept {
            Ok(0) => {}
            Ok(rows) => tracing::debug!(rows, "swept expired attempt counts"),
            Err(error) => tracing::warn!(cause = %error.report(), "could not sweep attempt counts"),
        }
    }
}

/// A SQLite database is this process's own, so `serve` brings it up to
/// date. A shared PostgreSQL is migrated by `conduit migrate` (one job, under
/// an advisory lock) unless `migrate_on_start` says otherwise; a schema older
/// than this release stops the start, a newer one is accepted.
fn prepare_schema(
    store: &dyn Store,
    database: &DatabaseUrl,
    migrate_on_start: bool,
) -> Result<(), String> {
    let (migrations, folder, migrate) = match database {
        DatabaseUrl::Sqlite(_) => (migrate::SQLITE, migrate::SQLITE_FOLDER, true),
        DatabaseUrl::Postgres(_) => (
            migrate::POSTGRES,
            migrate::POSTGRES_FOLDER,
            migrate_on_start,
        ),
    };
    if migrate {
        // Checks the history's checksums before applying anything.
        let applied = store
            .migrate()
            .map_err(|e| format!("migration failed: {}", e.report()))?;
        for m in applied {
            tracing::info!(version = m.version, name = %m.name, "applied migration");
        }
        return Ok(());
    }
    let recorded = store
        .applied_migrations()
        .map_err(|e| format!("cannot read the schema history: {}", e.report()))?;
    migrate::verify(folder, migrations, &recorded)?;
    let current = recorded.iter().map(|r| r.version).max().unwrap_or(0);
    let needed = migrate::latest(migrations);
    if current < needed {
        return Err(format!(
            "the database schema is at version {current} but this release needs {needed}: \
             run `conduit migrate` first (or set migrate_on_start)"
        ));
    }
    Ok(())
}

/// The configured secret, or on SQLite one generated on first start and kept
/// in the database so tokens survive restarts.
fn resolve_secret(
    store: &dyn Store,
    configured: Option<String>,
    database: &DatabaseUrl,
) -> Result<String, String> {
    if let Some(secret) = configured {
        return Ok(secret);
    }
    match database {
        DatabaseUrl::Sqlite(_) => {
            let candidate: String = (0..32)
                .map(|_| format!("{:02x}", rand::random::<u8>()))
                .collect();
            let secret = store
                .setting_or_insert(SECRET_SETTING, &candidate)
                .map_err(|e| format!("cannot store the token secret: {}", e.report()))?;
            if secret == candidate {
                tracing::info!("no secret configured: generated one and stored it in the database");
            }
            Ok(secret)
        }
        DatabaseUrl::Postgres(_) => Err(PG_SECRET_REQUIRED.into()),
    }
}

/// Binds the listen address, with a one-line reason on failure.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = interrupt => {},
                _ = terminate.recv() => {},
            }
        }
        Err(e) => {
            // Serving on is better than refusing to start; only SIGINT stops
            // the process then (SIGTERM's default action still ends it).
            tracing::error!(error = %e, "cannot install a SIGTERM handler; draining on SIGINT only");
            let _ = interrupt.await;
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutdown signal received; draining in-flight requests");
}
