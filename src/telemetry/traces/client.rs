//! The exporter's HTTP client: HTTP/1.1 over one kept-alive connection to
//! the collector, TLS (rustls, the public roots) for `https://`. Built on
//! the hyper and rustls the server already links, so the static binary
//! gains no second HTTP or TLS stack.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;

/// A collector's answer is a small protobuf; anything larger is refused.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Where the exporter connects.
#[derive(Clone, Debug)]
pub struct Target {
    host: String,
    port: u16,
    tls: bool,
}

impl Target {
    /// The host, port and scheme of an `http://` or `https://` URL.
    pub fn parse(url: &str) -> Result<Target, String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("{url:?}: {e}"))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(format!("{url:?}: must start with http:// or https://")),
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{url:?}: names no host"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Target { host, port, tls })
    }
}

pub struct OtlpHttp {
    target: Target,
    tls: Option<TlsConnector>,
    timeout: Duration,
    connection: Mutex<Option<SendRequest<Full<Bytes>>>>,
}

impl std::fmt::Debug for OtlpHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpHttp")
            .field("target", &self.target)
            .finish()
    }
}

impl OtlpHttp {
    pub fn new(url: &str, timeout: Duration) -> Result<OtlpHttp, String> {
        let target = Target::parse(url).map_err(|e| format!("tracing.endpoint: {e}"))?;
        let tls = if target.tls {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("tracing: TLS setup failed: {e}"))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Some(TlsConnector::from(Arc::new(config)))
        } else {
            None
        };
        Ok(OtlpHttp {
            target,
            tls,
            timeout,
            connection: Mutex::new(None),
        })
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, HttpError> {
        let tcp = TcpStream::connect((self.target.host.as_str(), self.target.port)).await?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => handshake(tcp).await,
            Some(tls) => {
                let name = rustls_pki_types::ServerName::try_from(self.target.host.clone())?;
                handshake(tls.connect(name, tcp).await?).await
            }
        }
    }

    async fn send(&self, mut request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        // On a connection of its own, a request names its host in `Host`
        // and carries only the path.
        if let Some(authority) = request.uri().authority() {
            let host = hyper::header::HeaderValue::from_str(authority.as_str())?;
            request
                .headers_mut()
                .entry(hyper::header::HOST)
                .or_insert(host);
        }
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        *request.uri_mut() = path.parse()?;
        let mut connection = self.connection.lock().await;
        let (parts, body) = request.into_parts();
        let request = || {
            let mut request = Request::new(Full::new(body.clone()));
            *request.method_mut() = parts.method.clone();
            *request.uri_mut() = parts.uri.clone();
            *request.headers_mut() = parts.headers.clone();
            request
        };
        // A kept-alive connection the collector closed while this thread was
        // idle (its connection task only runs during an export) fails on
        // first use: the batch is sent again, once, on a new connection.
        let reused = match connection.take() {
            Some(mut sender) => match sender.send_request(request()).await {
                Ok(response) => Some((sender, response)),
                Err(_) => None,
            },
            None => None,
        };
        let (sender, response) = match reused {
            Some(sent) => sent,
            None => {
                let mut sender = self.connect().await?;
                let response = sender.send_request(request()).await?;
                (sender, response)
            }
        };
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_ANSWER_BYTES)
            .collect()
            .await?
            .to_bytes();
        *connection = Some(sender);
        Ok(Response::from_parts(parts, body))
    }
}

async fn handshake<T>(io: T) -> Result<SendRequest<Full<Bytes>>, HttpError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

impl HttpClient for OtlpHttp {
    fn send_bytes<'a, 'b>(
        &'a self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async move {
            match tokio::time::timeout(self.timeout, self.send(request)).await {
                Ok(answer) => answer,
                Err(_) => Err(format!("no answer within {:?}", self.timeout).into()),
            }
        })
    }
}
