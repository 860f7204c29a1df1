//! Settings, read in layers: built-in defaults, then `conduit.toml`, then
//! `CONDUIT_*` environment variables (nested keys joined with `__`).
//!
//! ```text
//! CONDUIT_LISTEN=0.0.0.0:8080
//! CONDUIT_DATABASE_URL=sqlite:///data/conduit.db
//! CONDUIT_SECRET=...            # at least 32 bytes
//! CONDUIT_SCRYPT__LOG_N=15
//! ```
//!
//! Validation that needs more than a type (secret length, URL scheme, ranges)
//! happens in [`Config::load`], so a bad value stops the process at start with
//! a message naming the key. Each component owns its settings' types and
//! checks (`store`, `auth`, `telemetry`); this module assembles them.
//!
//! - `mod.rs`: the settings, their defaults and validation.
//! - `load.rs`: the layers, and which environment variables are settings.
//! - `show.rs`: `conduit config`'s output, secrets redacted.

mod load;
mod show;

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use load::{env_name, setting_names, ConfigFile};

use crate::auth::limits::LimitsConfig;
use crate::auth::password::ScryptConfig;
use crate::http::site::CookieSecure;
use crate::store::DatabaseUrl;
use crate::telemetry::traces::TracingConfig;
use crate::telemetry::LogFormat;

/// The effective configuration of one process.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds (`CONDUIT_LISTEN`).
    pub listen: SocketAddr,
    /// `sqlite://PATH` or `postgres://...` (`CONDUIT_DATABASE_URL`).
    pub database_url: Secret,
    /// A PostgreSQL read replica (or a service in front of several) that
    /// serves reads once it has replayed what their reader wrote
    /// (`CONDUIT_DATABASE_READ_URL`); unset, every read uses `database_url`.
    pub database_read_url: Option<Secret>,
    /// How long a read waits for the replica to replay its reader's last
    /// write before it runs on the primary.
    pub read_wait_ms: u64,
    /// HMAC key for tokens (`CONDUIT_SECRET`), at least 32 bytes. On SQLite
    /// one is generated and kept in the database when none is given.
    pub secret: Option<Secret>,
    /// The key before the last rotation, accepted for verification only.
    pub previous_secret: Option<Secret>,
    /// How long an issued token stays valid.
    pub token_lifetime_secs: u64,
    /// scrypt cost parameters for new password hashes.
    pub scrypt: ScryptConfig,
    /// Database connections per process; unset means
    /// [`Config::effective_pool_size`].
    pub pool_size: Option<u32>,
    /// How long a request waits for a free database connection before 503.
    pub pool_timeout_ms: u64,
    /// How long to keep retrying an unreachable PostgreSQL at start.
    pub startup_timeout_secs: u64,
    /// PostgreSQL only: apply pending migrations in `serve` instead of
    /// requiring `conduit migrate` first (SQLite always migrates).
    pub migrate_on_start: bool,
    /// A `tracing` filter such as `info` or `conduit=debug,warn`.
    pub log_level: String,
    /// `text` for people, `json` for log collectors.
    pub log_format: LogFormat,
    /// Origins allowed by CORS; `*` allows any (tokens travel in a header,
    /// not a cookie, so this grants no ambient authority).
    pub cors_origins: Vec<String>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: u64,
    /// Serve `/metrics` on this address instead of the API's.
    pub metrics_listen: Option<SocketAddr>,
    /// After SIGTERM, how long in-flight requests may take before exit.
    pub drain_secs: u64,
    /// A request running longer gets 503 (keep it below `drain_secs`).
    pub request_timeout_secs: u64,
    /// A client must send a request's headers within this time; it is also
    /// how long an idle keep-alive connection stays open.
    pub header_read_timeout_secs: u64,
    /// Open connections at most; more are answered 503 and closed.
    pub max_connections: usize,
    /// Requests being handled at most; more are answered 503 at once.
    pub max_in_flight: usize,
    /// Password hashes computed at once (each costs the scrypt memory);
    /// unset means one per CPU.
    pub hash_concurrency: Option<usize>,
    /// Logins and registrations that may wait for a hash slot; beyond this
    /// they get 503 at once instead of piling up.
    pub hash_queue: usize,
    /// Networks (CIDR) of proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
    /// Abuse limits per client address and per email.
    pub limits: LimitsConfig,
    /// The path a gateway publishes the app under (`/conduit`); empty when
    /// it is served at the root. Links and redirects in pages start with it.
    pub public_base_path: String,
    /// The scheme and host readers reach the app at
    /// (`https://blog.example.com`), for the absolute links of feeds,
    /// canonical links and the sitemap; never taken from a request's
    /// `Host`. Unset: `http://` and the `listen` address.
    pub public_origin: Option<String>,
    /// When the web app's session cookie is `Secure`: `auto` (unless the
    /// request came over plain HTTP from loopback), `always` or `never`.
    pub cookie_secure: CookieSecure,
    /// Distributed traces (OpenTelemetry, OTLP over HTTP); off unless
    /// `tracing.endpoint` (or `OTEL_EXPORTER_OTLP_ENDPOINT`) is set.
    pub tracing: TracingConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: Secret::new("sqlite://conduit.db"),
            database_read_url: None,
            read_wait_ms: 100,
            secret: None,
            previous_secret: None,
            token_lifetime_secs: 14 * 24 * 60 * 60,
            scrypt: ScryptConfig {
                log_n: 15,
                r: 8,
                p: 1,
            },
            pool_size: None,
            pool_timeout_ms: 5_000,
            startup_timeout_secs: 30,
            migrate_on_start: false,
            log_level: "info".into(),
            log_format: LogFormat::Text,
            cors_origins: vec!["*".into()],
            max_body_bytes: 2 * 1024 * 1024,
            metrics_listen: None,
            drain_secs: 20,
            request_timeout_secs: 15,
            header_read_timeout_secs: 10,
            max_connections: 4096,
            max_in_flight: 1024,
            hash_concurrency: None,
            hash_queue: 64,
            trusted_proxies: Vec::new(),
            limits: LimitsConfig {
                window_secs: 600,
                login_failures_per_email: 20,
                login_failures_per_address: 100,
                registrations_per_address: 300,
            },
            public_base_path: String::new(),
            public_origin: None,
            cookie_secure: CookieSecure::Auto,
            tracing: TracingConfig::default(),
        }
    }
}

/// A string that must never reach a log line: `Debug` and `Display` redact it.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The real value, for the few places that need it (keys, connections).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Config {
    pub(super) fn validate(&self) -> Result<(), String> {
        let database = DatabaseUrl::parse(self.database_url.expose())?;
        if let Some(read_url) = &self.database_read_url {
            let replica = DatabaseUrl::parse(read_url.expose())
                .map_err(|e| e.replace("database_url", "database_read_url"))?;
            if !matches!(
                (&database, replica),
                (DatabaseUrl::Postgres(_), DatabaseUrl::Postgres(_))
            ) {
                return Err(
                    "database_read_url: a postgres:// replica of a postgres:// database_url".into(),
                );
            }
        }
        for (key, secret) in [
            ("secret", &self.secret),
            ("previous_secret", &self.previous_secret),
        ] {
            if let Some(secret) = secret {
                if secret.expose().len() < 32 {
                    return Err(format!("{key}: must be at least 32 bytes"));
                }
            }
        }
        self.scrypt.validate()?;
        self.limits.validate()?;
        if self.pool_size == Some(0) {
            return Err("pool_size: must be at least 1".into());
        }
        if self.token_lifetime_secs == 0 {
            return Err("token_lifetime_secs: must be at least 1".into());
        }
        for origin in &self.cors_origins {
            let valid = origin == "*"
                || ((origin.starts_with("http://") || origin.starts_with("https://"))
                    && !origin.ends_with('/')
                    && origin
                        .split("://")
                        .nth(1)
                        .is_some_and(|host| !host.is_empty() && !host.contains('/')));
            if !valid {
                return Err(format!(
                    "cors_origins: {origin:?} is not \"*\" or an origin like https://example.com"
                ));
            }
        }
        for proxy in &self.trusted_proxies {
            crate::http::client::Cidr::parse(proxy).map_err(|e| format!("trusted_proxies: {e}"))?;
        }
        for (key, value) in [
            ("drain_secs", self.drain_secs),
            ("request_timeout_secs", self.request_timeout_secs),
            ("header_read_timeout_secs", self.header_read_timeout_secs),
        ] {
            if value == 0 {
                return Err(format!("{key}: must be at least 1"));
            }
        }
        for (key, value) in [
            ("max_connections", self.max_connections),
            ("max_in_flight", self.max_in_flight),
            ("hash_concurrency", self.hash_concurrency.unwrap_or(1)),
        ] {
            if value == 0 {
                return Err(format!("{key}: must be at least 1"));
            }
        }
        if self.max_body_bytes < 1024 {
            return Err("max_body_bytes: must be at least 1024".into());
        }
        crate::telemetry::check_level(&self.log_level)?;
        crate::http::site::check_base_path(&self.public_base_path)?;
        if let Some(origin) = &self.public_origin {
            crate::http::site::check_origin(origin)?;
        }
        self.tracing.validate()?;
        Ok(())
    }

    /// The parsed database location (validated by [`Config::load`]).
    pub fn database(&self) -> DatabaseUrl {
        DatabaseUrl::parse(self.database_url.expose())
            .expect("database_url was validated when the config was loaded")
    }

    /// The read replica, when `database_read_url` is set.
    pub fn read_replica(&self) -> Option<crate::store::ReplicaOptions> {
        self.database_read_url
            .as_ref()
            .map(|url| crate::store::ReplicaOptions {
                url: url.expose().to_owned(),
                wait: std::time::Duration::from_millis(self.read_wait_ms),
            })
    }

    /// Connections per process: `pool_size` when set, else what suits the
    /// backend ([`DatabaseUrl::default_pool_size`]).
    pub fn effective_pool_size(&self) -> u32 {
        self.pool_size
            .unwrap_or_else(|| self.database().default_pool_size())
    }

    /// The pool settings for [`crate::store::open`].
    pub fn pool_options(&self) -> crate::store::PoolOptions {
        crate::store::PoolOptions {
            pool_size: self.effective_pool_size(),
            pool_timeout_ms: self.pool_timeout_ms,
            startup_timeout_secs: self.startup_timeout_secs,
            // The request gets 503 at this point; its database work stops
            // with it.
            statement_timeout: std::time::Duration::from_secs(self.request_timeout_secs),
        }
    }
}

/// Test helper: a config for a SQLite file, with cheap hashing.
pub fn for_tests(database: &Path) -> Config {
    Config {
        database_url: Secret::new(format!("sqlite://{}", database.display())),
        secret: Some(Secret::new("test-secret-that-is-at-least-32-bytes-long")),
        scrypt: ScryptConfig {
            log_n: 4,
            r: 8,
            p: 1,
        },
        pool_size: Some(4),
        cors_origins: vec!["*".into()],
        ..Config::default()
    }
}
