//! TLS to PostgreSQL with rustls (no OpenSSL, so the static binary works in
//! an empty image), following libpq's meaning of `sslmode`:
//!
//! | sslmode            | encrypts        | checks the chain | checks the host |
//! |--------------------|-----------------|------------------|-----------------|
//! | `disable`          | no              | no               | no              |
//! | `prefer` (default) | if the server can | no             | no              |
//! | `require`          | yes             | no               | no              |
//! | `verify-ca`        | yes             | yes              | no              |
//! | `verify-full`      | yes             | yes              | yes             |
//!
//! The chain is checked against `sslrootcert=PATH` (PEM) when given, else
//! against the built-in Mozilla roots. The `postgres` crate parses only
//! `disable|prefer|require`, so [`parse_url`] takes `sslmode` and
//! `sslrootcert` out of the URL before handing the rest over.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use postgres::config::SslMode;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
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

/// A PostgreSQL URL split into the driver's config and our TLS settings.
pub struct PgTarget {
    pub config: postgres::Config,
    pub mode: TlsMode,
    pub root_cert: Option<PathBuf>,
}

/// Parses `postgres://user:pass@host:port/db?sslmode=...&sslrootcert=...`.
/// Errors never repeat the URL (it may hold a password).
pub fn parse_url(url: &str) -> Result<PgTarget, String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, query),
        None => (url, ""),
    };
    let mut mode = TlsMode::Prefer;
    let mut root_cert = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
        match key {
            "sslmode" => mode = decoded.parse()?,
            "sslrootcert" => root_cert = Some(PathBuf::from(decoded.into_owned())),
            _ => rest.push(pair),
        }
    }
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
        root_cert,
    })
}

/// The connector for `mode`; certificate files are read here, once.
pub fn connector(mode: TlsMode, root_cert: Option<&PathBuf>) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?;
    let config = match mode {
        TlsMode::Disable | TlsMode::Prefer | TlsMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly { provider }))
            .with_no_client_auth(),
        TlsMode::VerifyCa | TlsMode::VerifyFull => {
            let roots = Arc::new(root_store(root_cert)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| format!("TLS setup failed: {e}"))?;
            let verifier: Arc<dyn ServerCertVerifier> = if mode == TlsMode::VerifyCa {
                Arc::new(ChainOnly { inner: webpki })
            } else {
                webpki
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth()
        }
    };
    Ok(MakeRustlsConnect::new(config))
}

fn root_store(root_cert: Option<&PathBuf>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match root_cert {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
            }
            if roots.is_empty() {
                return Err(format!(
                    "sslrootcert {}: no certificates found",
                    path.display()
                ));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(roots)
}

/// `prefer`/`require`: encrypt, accept any certificate (as libpq does), but
/// still check the handshake signatures so the session key is the server's.
#[derive(Debug)]
struct EncryptOnly {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the name may differ.
#[derive(Debug)]
struct ChainOnly {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
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
        assert_eq!(target.root_cert, Some(PathBuf::from("/etc/ca.crt")));
        assert_eq!(target.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(target.config.get_dbname(), Some("conduit"));
        assert_eq!(target.config.get_application_name(), Some("x"));
    }

    #[test]
    fn prefer_is_the_default_and_unknown_modes_fail_without_echoing_the_url() {
        let target = parse_url("postgresql://u@localhost/db").unwrap();
        assert_eq!(target.mode, TlsMode::Prefer);
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

    #[test]
    fn a_missing_root_certificate_file_is_reported() {
        let error = connector(TlsMode::VerifyCa, Some(&PathBuf::from("/no/such/ca.pem")))
            .err()
            .expect("missing file rejected");
        assert!(error.contains("/no/such/ca.pem"), "{error}");
        assert!(
            connector(TlsMode::VerifyFull, None).is_ok(),
            "built-in roots"
        );
        assert!(connector(TlsMode::Require, None).is_ok());
    }
}
