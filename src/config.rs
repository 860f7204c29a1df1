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
//! a message naming the key.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Environment variables that are not settings: the config file's path and
/// anything the test suites read for themselves.
const ENV_PREFIX: &str = "CONDUIT_";

/// Every top-level key; environment variables outside this list are ignored
/// (Kubernetes injects `CONDUIT_PORT`, `CONDUIT_SERVICE_HOST` and the like for
/// a Service named `conduit`), while the TOML file is checked strictly.
const KNOWN_KEYS: &[&str] = &[
    "listen",
    "database_url",
    "secret",
    "previous_secret",
    "token_lifetime_secs",
    "scrypt",
    "pool_size",
    "pool_timeout_ms",
    "startup_timeout_secs",
    "migrate_on_start",
    "log_level",
    "log_format",
    "cors_origins",
    "max_body_bytes",
    "metrics_listen",
    "drain_secs",
    "request_timeout_secs",
    "header_read_timeout_secs",
    "max_connections",
    "max_in_flight",
    "hash_concurrency",
    "hash_queue",
    "trusted_proxies",
    "limits",
];

/// The effective configuration of one process.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server binds (`CONDUIT_LISTEN`).
    pub listen: SocketAddr,
    /// `sqlite://PATH` or `postgres://...` (`CONDUIT_DATABASE_URL`).
    pub database_url: Secret,
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
}

/// Sliding-window limits over `window_secs` (see `auth::limits`); 429
/// beyond them.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub window_secs: u64,
    /// Failed logins for one email.
    pub login_failures_per_email: u32,
    /// Failed logins from one client address.
    pub login_failures_per_address: u32,
    /// Registrations from one client address.
    pub registrations_per_address: u32,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ScryptConfig {
    pub log_n: u8,
    pub r: u32,
    pub p: u32,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: Secret::new("sqlite://conduit.db"),
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
        }
    }
}

/// Where the data lives, parsed from `database_url`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// Everything after `sqlite://` is a file path: `sqlite:///data/x.db` is absolute.
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` URL, passed on as given.
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("database_url: sqlite:// needs a file path".into());
            }
            Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // Bad TLS settings stop the start here, naming the setting.
            crate::store::postgres::tls::parse_url(url)?;
            Ok(DatabaseUrl::Postgres(url.to_owned()))
        } else {
            Err("database_url: expected sqlite://PATH or postgres://...".into())
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => f.write_str(&redact_url_password(url)),
        }
    }
}

/// Replaces the password of `scheme://user:password@host` with `***`.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
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

/// Where to look for the TOML file.
pub enum ConfigFile {
    /// `conduit.toml` in the working directory, if it exists.
    Default,
    /// Named with `--config` or `CONDUIT_CONFIG`: it must exist.
    Explicit(PathBuf),
}

impl ConfigFile {
    /// `--config` wins over `CONDUIT_CONFIG`, which wins over the default.
    pub fn choose(flag: Option<PathBuf>) -> Self {
        match flag.or_else(|| std::env::var_os("CONDUIT_CONFIG").map(PathBuf::from)) {
            Some(path) => ConfigFile::Explicit(path),
            None => ConfigFile::Default,
        }
    }
}

impl Config {
    /// Reads every layer and validates the result.
    ///
    /// Errors name the offending key, e.g. `secret: must be at least 32 bytes`.
    pub fn load(file: ConfigFile) -> Result<Config, String> {
        let path = match &file {
            ConfigFile::Default => PathBuf::from("conduit.toml"),
            ConfigFile::Explicit(path) => {
                if !path.is_file() {
                    return Err(format!("config file {} not found", path.display()));
                }
                path.clone()
            }
        };
        Self::from_figment(
            Figment::from(Serialized::defaults(Config::default()))
                .merge(Toml::file(&path))
                .merge(env_provider()),
        )
    }

    /// Extracts and validates a config from any set of providers (tests use
    /// this with in-memory values).
    pub fn from_figment(figment: Figment) -> Result<Config, String> {
        let config: Config = figment.extract().map_err(describe_figment_error)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        DatabaseUrl::parse(self.database_url.expose())?;
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
        if !(1..=20).contains(&self.scrypt.log_n) {
            return Err("scrypt.log_n: must be between 1 and 20".into());
        }
        if scrypt::Params::new(self.scrypt.log_n, self.scrypt.r, self.scrypt.p, 32).is_err() {
            return Err("scrypt: r and p out of range".into());
        }
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
            ("limits.window_secs", self.limits.window_secs),
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
        if tracing_subscriber::EnvFilter::try_new(&self.log_level).is_err() {
            return Err(format!("log_level: invalid filter {:?}", self.log_level));
        }
        Ok(())
    }

    /// The parsed database location (validated by [`Config::load`]).
    pub fn database(&self) -> DatabaseUrl {
        DatabaseUrl::parse(self.database_url.expose())
            .expect("database_url was validated when the config was loaded")
    }

    /// Connections per process: `pool_size` when set. Otherwise one per CPU
    /// on SQLite, whose reads are CPU-bound (more connections, and the
    /// threads that hold them, only take turns on the same cores: measured
    /// in BENCHMARKS.md), and 8 on PostgreSQL, where a connection mostly
    /// waits on the server.
    pub fn effective_pool_size(&self) -> u32 {
        self.pool_size.unwrap_or_else(|| match self.database() {
            DatabaseUrl::Sqlite(_) => {
                std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 16) as u32)
            }
            DatabaseUrl::Postgres(_) => 8,
        })
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

    /// The configuration as TOML with every secret replaced by `<redacted>`.
    pub fn redacted_toml(&self) -> String {
        let redacted = |s: &Option<Secret>| s.as_ref().map(|_| Secret::new("<redacted>"));
        let shown = Config {
            database_url: Secret::new(format!("{:?}", self.database())),
            secret: redacted(&self.secret),
            previous_secret: redacted(&self.previous_secret),
            // What the process will use, not just what was set.
            pool_size: Some(self.effective_pool_size()),
            ..self.clone()
        };
        toml_lines(&shown)
    }
}

fn env_provider() -> Env {
    Env::prefixed(ENV_PREFIX).split("__").filter(|key| {
        // Keys arrive in their original case; compare lowercased.
        let key = key.as_str().to_ascii_lowercase();
        KNOWN_KEYS
            .iter()
            .any(|known| key == *known || key.starts_with(&format!("{known}.")))
    })
}

fn describe_figment_error(error: figment::Error) -> String {
    let mut messages = Vec::new();
    for e in error {
        let key = e.path.join(".");
        if key.is_empty() {
            messages.push(e.kind.to_string());
        } else {
            messages.push(format!("{key}: {}", e.kind));
        }
    }
    messages.join("; ")
}

/// Renders the config as TOML by hand: the `toml` serializer is not among
/// figment's public exports, and the structure is flat enough.
fn toml_lines(config: &Config) -> String {
    let value = serde_json::to_value(config).expect("config serializes to JSON");
    let mut top = String::new();
    let mut tables = String::new();
    if let serde_json::Value::Object(map) = value {
        for (key, value) in map {
            match value {
                serde_json::Value::Null => top.push_str(&format!("# {key} is not set\n")),
                serde_json::Value::Object(inner) => {
                    tables.push_str(&format!("\n[{key}]\n"));
                    for (k, v) in inner {
                        tables.push_str(&format!("{k} = {v}\n"));
                    }
                }
                other => top.push_str(&format!("{key} = {other}\n")),
            }
        }
    }
    top + &tables
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

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::result_large_err)] // figment's own error type, in tests only
    fn load_with(toml: &str, env: &[(&str, &str)]) -> Result<Config, String> {
        let mut loaded = None;
        figment::Jail::expect_with(|jail| {
            jail.create_file("conduit.toml", toml)?;
            for (key, value) in env {
                jail.set_env(key, value);
            }
            loaded = Some(Config::load(ConfigFile::Default));
            Ok(())
        });
        loaded.expect("the jail ran the closure")
    }

    #[test]
    fn defaults_need_no_file_and_no_environment() {
        let config = Config::from_figment(Figment::from(Serialized::defaults(Config::default())))
            .expect("defaults are valid");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            config.database(),
            DatabaseUrl::Sqlite(PathBuf::from("conduit.db"))
        );
        assert_eq!(config.token_lifetime_secs, 14 * 24 * 3600);
        assert_eq!(config.max_body_bytes, 2 * 1024 * 1024);
    }

    #[test]
    fn the_pool_defaults_to_one_connection_per_cpu_on_sqlite_and_8_on_postgres() {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 16));
        let sqlite = load_with("", &[]).expect("defaults");
        assert_eq!(sqlite.effective_pool_size() as usize, cpus);
        let postgres = load_with(
            "",
            &[
                ("CONDUIT_DATABASE_URL", "postgres://u@h/db"),
                ("CONDUIT_SECRET", "a-secret-of-at-least-thirty-two-bytes"),
            ],
        )
        .expect("postgres");
        assert_eq!(postgres.effective_pool_size(), 8);
        let set = load_with("pool_size = 3\n", &[]).expect("set");
        assert_eq!(set.effective_pool_size(), 3, "an explicit size wins");
        assert!(
            sqlite
                .redacted_toml()
                .contains(&format!("pool_size = {cpus}\n")),
            "`conduit config` shows the size in effect"
        );
    }

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        let config = load_with(
            "listen = \"127.0.0.1:9000\"\npool_size = 3\n[scrypt]\nlog_n = 10\nr = 8\np = 1\n",
            &[
                ("CONDUIT_LISTEN", "0.0.0.0:8081"),
                ("CONDUIT_SCRYPT__LOG_N", "12"),
                ("CONDUIT_CONFIG", "ignored-here"),
                ("CONDUIT_TEST_POSTGRES_URL", "postgres://x"),
                ("CONDUIT_PORT", "tcp://10.0.0.1:8080"),
            ],
        )
        .expect("valid layers");
        assert_eq!(config.listen.to_string(), "0.0.0.0:8081");
        assert_eq!(
            config.pool_size,
            Some(3),
            "file value kept when env is silent"
        );
        assert_eq!(config.scrypt.log_n, 12, "nested env key with __");
    }

    #[test]
    fn invalid_values_name_their_key() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("", &[("CONDUIT_LISTEN", "nope")], "listen"),
            ("", &[("CONDUIT_SECRET", "short")], "secret"),
            ("", &[("CONDUIT_DATABASE_URL", "mysql://x")], "database_url"),
            ("", &[("CONDUIT_POOL_SIZE", "0")], "pool_size"),
            ("", &[("CONDUIT_SCRYPT__LOG_N", "40")], "scrypt.log_n"),
            ("lisen = \"x\"\n", &[], "lisen"),
        ];
        for (toml, env, key) in cases {
            let error = load_with(toml, env).expect_err(&format!("{key} should be rejected"));
            assert!(error.contains(key), "error {error:?} should name {key}");
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug_and_config_output() {
        let config = Config {
            secret: Some(Secret::new("s".repeat(40))),
            database_url: Secret::new("postgres://app:hunter2@db:5432/conduit"),
            ..Config::default()
        };
        let shown = config.redacted_toml();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains(&"s".repeat(40)), "{shown}");
        assert!(
            shown.contains("postgres://app:***@db:5432/conduit"),
            "{shown}"
        );
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
