//! Logging through `tracing`: human-readable lines by default, JSON for log
//! collectors. Logs go to standard error, so `conduit config` and
//! `conduit migrate` keep standard output for their results.

pub mod metrics;

use serde::{Deserialize, Serialize};
use tracing_subscriber::EnvFilter;

/// How log lines look (the `log_format` setting).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For people.
    Text,
    /// For log collectors.
    Json,
}

/// Checks a `log_level` filter such as `info` or `conduit=debug,warn`.
pub fn check_level(level: &str) -> Result<(), String> {
    EnvFilter::try_new(level)
        .map(drop)
        .map_err(|_| format!("log_level: invalid filter {level:?}"))
}

/// Libraries whose debug and trace events carry request data (headers,
/// query parameters): capped at `info` whatever the configured level, so a
/// password, token or email never reaches a log.
const CAPPED: &[&str] = &[
    "hyper",
    "hyper_util",
    "h2",
    "tokio_postgres",
    "postgres",
    "rustls",
    "warp",
];

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init(level: &str, format: LogFormat) {
    let mut filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    for target in CAPPED {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
