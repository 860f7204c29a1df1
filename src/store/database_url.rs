//! Where the data lives: the `database_url` setting, parsed, redacted for
//! logs, and the pool size that suits each backend.

use std::fmt;
use std::path::PathBuf;

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
            super::postgres::sslmode::parse_url(url)?;
            Ok(DatabaseUrl::Postgres(url.to_owned()))
        } else {
            Err("database_url: expected sqlite://PATH or postgres://...".into())
        }
    }

    /// Connections per process when none is configured: one per CPU on
    /// SQLite, whose reads are CPU-bound (more connections, and the threads
    /// that hold them, only take turns on the same cores: measured in
    /// BENCHMARKS.md), and 8 on PostgreSQL, where a connection mostly waits
    /// on the server.
    pub fn default_pool_size(&self) -> u32 {
        match self {
            DatabaseUrl::Sqlite(_) => {
                std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 16) as u32)
            }
            DatabaseUrl::Postgres(_) => 8,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_and_other_urls_kept() {
        assert_eq!(
            redact_url_password("postgres://app:hunter2@db:5432/conduit?sslmode=require"),
            "postgres://app:***@db:5432/conduit?sslmode=require"
        );
        assert_eq!(
            redact_url_password("postgres://app@db/x"),
            "postgres://app@db/x"
        );
        assert_eq!(
            format!("{:?}", DatabaseUrl::parse("sqlite:///data/x.db").unwrap()),
            "sqlite:///data/x.db"
        );
    }
}
