//! TLS to PostgreSQL with rustls (no OpenSSL, so the static binary works in
//! an empty image), following libpq's meaning of `sslmode` and `sslrootcert`:
//!
//! | sslmode            | encrypts          | checks the chain | checks the host |
//! |--------------------|-------------------|------------------|-----------------|
//! | `disable`          | no                | no               | no              |
//! | `prefer` (default) | if the server can | with a root file | no              |
//! | `require`          | yes               | with a root file | no              |
//! | `verify-ca`        | yes               | yes              | no              |
//! | `verify-full`      | yes               | yes              | yes             |
//!
//! The chain is checked against `sslrootcert=PATH` (PEM). `verify-ca` and
//! `verify-full` without it are refused, as libpq refuses them: checking
//! against public roots without the host name would accept any publicly
//! trusted certificate. `sslrootcert=system` takes the built-in public roots
//! and then always checks the host name (libpq 16), so it goes with
//! `verify-full` only. The `postgres` crate parses only
//! `disable|prefer|require`, so [`parse_url`] takes `sslmode` and
//! `sslrootcert` out of the URL before handing the rest over.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use postgres::config::SslMode;

/// libpq's `sslmode` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl TlsMode {
    fn name(self) -> &'static str {
        match self {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
            TlsMode::VerifyCa => "verify-ca",
            TlsMode::VerifyFull => "verify-full",
        }
    }
}

impl FromStr for TlsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "disable" => TlsMode::Disable,
            "prefer" => TlsMode::Prefer,
            "require" => TlsMode::Require,
            "verify-ca" => TlsMode::VerifyCa,
            "verify-full" => TlsMode::VerifyFull,
            other => {
                return Err(format!(
                    "database_url: unsupported sslmode {other:?} \
                     (disable, prefer, require, verify-ca, verify-full)"
                ))
            }
        })
    }
}

/// Where trusted roots come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Roots {
    /// `sslrootcert=PATH`: the CA file of the database's own CA.
    File(PathBuf),
    /// `sslrootcert=system`: the built-in public roots.
    System,
}

/// What is checked of the server's certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verify {
    /// Encrypt only (or no TLS at all under `disable`).
    Nothing,
    /// The chain must lead to one of the roots; the host name may differ.
    Chain(Roots),
    /// The chain and the host name.
    ChainAndHost(Roots),
}

/// A PostgreSQL URL split into the driver's config and our TLS settings.
pub struct PgTarget {
    pub config: postgres::Config,
    pub mode: TlsMode,
    pub verify: Verify,
}

/// Parses `postgres://user:pass@host:port/db?sslmode=...&sslrootcert=...`.
/// Refuses the combinations libpq refuses. Errors never repeat the URL (it
/// may hold a password).
pub fn parse_url(url: &str) -> Result<PgTarget, String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let mut mode = None;
    let mut root_cert = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
        match key {
            "sslmode" => mode = Some(decoded.parse::<TlsMode>()?),
            "sslrootcert" => root_cert = Some(decoded.into_owned()),
            _ => rest.push(pair),
        }
    }
    let (mode, verify) = tls_policy(mode, root_cert)?;
    let driver_url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    let mut config = postgres::Config::from_str(&driver_url)
        .map_err(|e| format!("database_url: not a valid PostgreSQL URL: {e}"))?;
    config.ssl_mode(match mode {
        TlsMode::Disable => SslMode::Disable,
        TlsMode::Prefer => SslMode::Prefer,
        _ => SslMode::Require,
    });
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(5));
    }
    config.keepalives(true);
    if config.get_application_name().is_none() {
        config.application_name("conduit");
    }
    Ok(PgTarget {
        config,
        mode,
        verify,
    })
}

/// libpq's rules for `sslmode` and `sslrootcert` together: the mode in
/// effect and what is verified, or why the pair is refused.
fn tls_policy(
    mode: Option<TlsMode>,
    root_cert: Option<String>,
) -> Result<(TlsMode, Verify), String> {
    let roots = root_cert.map(|value| match value.as_str() {
        "system" => Roots::System,
        _ => Roots::File(PathBuf::from(value)),
    });
    match (mode, roots) {
        // libpq 16: public roots always come with the host name check.
        (None | Some(TlsMode::VerifyFull), Some(Roots::System)) => {
            Ok((TlsMode::VerifyFull, Verify::ChainAndHost(Roots::System)))
        }
        (Some(weaker), Some(Roots::System)) => Err(format!(
            "database_url: sslrootcert=system needs sslmode=verify-full \
             (public roots are only safe with the host name checked), not sslmode={}",
            weaker.name()
        )),
        (Some(mode @ (TlsMode::VerifyCa | TlsMode::VerifyFull)), None) => Err(format!(
            "database_url: sslmode={} needs sslrootcert=PATH (the CA file that signed \
             the server's certificate) or sslrootcert=system",
            mode.name()
        )),
        (Some(TlsMode::VerifyFull), Some(roots)) => {
            Ok((TlsMode::VerifyFull, Verify::ChainAndHost(roots)))
        }
        // With a root file, `require` (and `prefer`) check the chain, as
        // libpq does whenever it has a root file.
        (Some(mode @ (TlsMode::VerifyCa | TlsMode::Require | TlsMode::Prefer)), Some(roots)) => {
            Ok((mode, Verify::Chain(roots)))
        }
        (None, Some(roots)) => Ok((TlsMode::Prefer, Verify::Chain(roots))),
        (Some(TlsMode::Disable), Some(_)) => Ok((TlsMode::Disable, Verify::Nothing)),
        (mode, None) => Ok((mode.unwrap_or(TlsMode::Prefer), Verify::Nothing)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_of_the_url() {
        let target = parse_url(
            "postgres://app:pw@db.example:6432/conduit?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.crt&application_name=x",
        )
        .unwrap();
        assert_eq!(target.mode, TlsMode::VerifyFull);
        assert_eq!(
            target.verify,
            Verify::ChainAndHost(Roots::File(PathBuf::from("/etc/ca.crt")))
        );
        assert_eq!(target.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(target.config.get_dbname(), Some("conduit"));
        assert_eq!(target.config.get_application_name(), Some("x"));
    }

    #[test]
    fn prefer_is_the_default_and_unknown_modes_fail_without_echoing_the_url() {
        let target = parse_url("postgresql://u@localhost/db").unwrap();
        assert_eq!(target.mode, TlsMode::Prefer);
        assert_eq!(target.verify, Verify::Nothing);
        assert_eq!(
            target.config.get_connect_timeout(),
            Some(&Duration::from_secs(5))
        );
        let error = parse_url("postgres://u:hunter2@h/db?sslmode=allow-ish")
            .err()
            .expect("unknown mode rejected");
        assert!(
            error.contains("sslmode") && !error.contains("hunter2"),
            "{error}"
        );
    }

    /// libpq's rules, pair by pair.
    #[test]
    fn sslmode_and_sslrootcert_follow_libpq() {
        let file = || Roots::File(PathBuf::from("/ca.pem"));
        let url = |query: &str| format!("postgres://u:hunter2@h/db?{query}");
        let accepted = [
            ("", TlsMode::Prefer, Verify::Nothing),
            ("sslmode=require", TlsMode::Require, Verify::Nothing),
            (
                "sslmode=disable&sslrootcert=/ca.pem",
                TlsMode::Disable,
                Verify::Nothing,
            ),
            (
                "sslrootcert=/ca.pem",
                TlsMode::Prefer,
                Verify::Chain(file()),
            ),
            (
                "sslmode=require&sslrootcert=/ca.pem",
                TlsMode::Require,
                Verify::Chain(file()),
            ),
            (
                "sslmode=verify-ca&sslrootcert=/ca.pem",
                TlsMode::VerifyCa,
                Verify::Chain(file()),
            ),
            (
                "sslmode=verify-full&sslrootcert=/ca.pem",
                TlsMode::VerifyFull,
                Verify::ChainAndHost(file()),
            ),
            (
                "sslrootcert=system",
                TlsMode::VerifyFull,
                Verify::ChainAndHost(Roots::System),
            ),
            (
                "sslmode=verify-full&sslrootcert=system",
                TlsMode::VerifyFull,
                Verify::ChainAndHost(Roots::System),
            ),
        ];
        for (query, mode, verify) in accepted {
            let target = parse_url(&url(query)).unwrap_or_else(|e| panic!("{query}: {e}"));
            assert_eq!((target.mode, target.verify), (mode, verify), "{query}");
        }
        let refused = [
            ("sslmode=verify-ca", "sslrootcert=PATH"),
            ("sslmode=verify-full", "sslrootcert=PATH"),
            (
                "sslmode=verify-ca&sslrootcert=system",
                "sslmode=verify-full",
            ),
            ("sslmode=require&sslrootcert=system", "sslmode=verify-full"),
        ];
        for (query, needle) in refused {
            let error = parse_url(&url(query))
                .err()
                .unwrap_or_else(|| panic!("{query} must be refused"));
            assert!(
                error.starts_with("database_url: ") && error.contains(needle),
                "{query}: {error}"
            );
            assert!(!error.contains("hunter2"), "{error}");
        }
    }
}
