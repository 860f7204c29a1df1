//! The HTTP server around the warp routes: connections (hyper, HTTP/1.1),
//! and for every request an id, a log line, metrics, a timeout and load
//! shedding, revalidation of JSON reads, and compression of large bodies;
//! then graceful shutdown.
//!
//! warp's own `serve` has no knobs for header-read timeouts, connection caps
//! or a bounded drain, so connections are served here with hyper directly
//! and each request is handed to warp's filter as a service.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::compression::{Compression, CompressionLevel};
use tower_service::Service;
use tracing::Instrument;
use warp::http::{HeaderValue, Method, Request};
use warp::reply::{Reply, Response};

use crate::http::client::{ClientAddr, TrustedProxies};
use crate::http::conditional::Revalidation;
use crate::http::rejection::UNKNOWN_ROUTE;
use crate::http::{ApiError, Served};
use crate::telemetry::metrics::METRICS;

/// Limits and timeouts of one listener.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// A request running longer is answered 503.
    pub request_timeout: Duration,
    /// Time to send request headers; also the idle keep-alive timeout,
    /// since hyper starts it as soon as a connection waits for a request.
    pub header_read_timeout: Duration,
    /// After shutdown begins, how long open requests may still take.
    pub drain: Duration,
    /// Connections at most; more are answered 503 and closed.
    pub max_connections: usize,
    /// Requests in handling at most; more are answered 503 at once.
    pub max_in_flight: usize,
    /// Whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
}

/// Per-listener state shared by every connection.
struct Shared {
    routes: Served,
    options: ServerOptions,
    /// Permits for requests in handling.
    in_flight: Semaphore,
}

/// Serves `routes` on `listener` until `shutdown` completes; then stops
/// accepting, sets `draining`, and waits up to the drain period for open
/// requests. Returns whether every connection finished in time.
pub async fn serve(
    listener: TcpListener,
    routes: Served,
    options: ServerOptions,
    draining: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()>,
) -> bool {
    let shared = Arc::new(Shared {
        routes,
        in_flight: Semaphore::new(options.max_in_flight),
        options,
    });
    let connections = Arc::new(Semaphore::new(shared.options.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(shared.options.header_read_timeout)
        .keep_alive(true);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off briefly.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            METRICS.shed.inc();
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(compressed(Handler {
            shared: Arc::clone(&shared),
            peer,
        }));
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    draining.store(true, Ordering::SeqCst);
    let started = Instant::now();
    tokio::select! {
        () = graceful.shutdown() => {
            tracing::info!(drain_ms = started.elapsed().as_millis() as u64, "all connections drained");
            true
        }
        () = tokio::time::sleep(shared.options.drain) => {
            tracing::warn!("drain period over; closing the connections still open");
            false
        }
    }
}

/// Bodies smaller than this go out as they are: compressing them saves a
/// few hundred bytes at best, and costs CPU and a larger frame.
const COMPRESS_FROM_BYTES: u16 = 1024;

/// Compresses responses of at least [`COMPRESS_FROM_BYTES`] in the encoding
/// the client prefers among gzip and br (`Vary: Accept-Encoding` added),
/// except what is compressed already: raster images, and anything with a
/// `Content-Encoding`. The fast end of each codec's levels: the ratio on
/// JSON and HTML stays high, and the work stays small next to a request's.
fn compressed<S>(service: S) -> Compression<S, impl Predicate> {
    let worth_it = SizeAbove::new(COMPRESS_FROM_BYTES).and(NotForContentType::IMAGES);
    Compression::new(service)
        .compress_when(worth_it)
        .quality(CompressionLevel::Fastest)
}

/// One connection's requests, as a service: [`handle`] for each.
#[derive(Clone)]
struct Handler {
    shared: Arc<Shared>,
    peer: SocketAddr,
}

impl Service<Request<Incoming>> for Handler {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let (shared, peer) = (Arc::clone(&self.shared), self.peer);
        Box::pin(async move { Ok(handle(request, peer, &shared).await) })
    }
}

/// Counts a request in flight for as long as it lives, even if the client
/// goes away and the request future is dropped.
struct InFlight;

impl InFlight {
    fn enter() -> Self {
        METRICS.in_flight.inc();
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        METRICS.in_flight.dec();
    }
}

async fn handle(mut request: Request<Incoming>, peer: SocketAddr, shared: &Shared) -> Response {
    let started = Instant::now();
    let _in_flight = InFlight::enter();
    let method = method_label(request.method());
    // HEAD is GET without the body (RFC 9110, 9.3.2): the routes see a GET,
    // and hyper, which still knows the request was a HEAD, sends the GET's
    // headers (compression included) and never the body.
    if request.method() == Method::HEAD {
        *request.method_mut() = Method::GET;
    }
    let route = shared
        .routes
        .label(request.method(), request.uri().path())
        .unwrap_or(UNKNOWN_ROUTE);
    let id = request_id(request.headers());
    let client = shared
        .options
        .trusted_proxies
        .client_addr(peer.ip(), request.headers());
    request.extensions_mut().insert(ClientAddr(client));
    let revalidation = Revalidation::of(request.method(), request.headers());
    let span = tracing::info_span!("request", request_id = %id, method = %method, route);

    let mut response = match shared.in_flight.try_acquire() {
        Err(_) => {
            METRICS.shed.inc();
            ApiError::Unavailable("the server is overloaded; try again shortly".into())
                .into_response()
        }
        Ok(_permit) => {
            let mut routes = warp::service(shared.routes.filter.clone());
            let call = routes.call(request).instrument(span.clone());
            match tokio::time::timeout(shared.options.request_timeout, call).await {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(_) => span.in_scope(|| {
                    tracing::warn!("request timed out");
                    ApiError::Unavailable("the request took too long; try again".into())
                        .into_response()
                }),
            }
        }
    };
    if let Some(revalidation) = revalidation {
        response = revalidation.finish(response).await;
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    METRICS.observe_request(method, route, status, elapsed);
    span.in_scope(|| {
        let latency_ms = (elapsed * 1_000_000.0).round() / 1000.0;
        tracing::info!(target: "conduit::http", status, latency_ms, "request");
    });
    response
}

/// The method as a metrics and log label: the standard methods by name,
/// anything else `other`, so clients cannot create label values at will.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// The caller's `X-Request-Id` when it is short and plain, else a new one.
fn request_id(headers: &warp::http::HeaderMap) -> String {
    if let Some(value) = headers.get("x-request-id").and_then(|v| v.to_str().ok()) {
        let plain = value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        if (1..=128).contains(&value.len()) && plain {
            return value.to_owned();
        }
    }
    format!("{:032x}", rand::random::<u128>())
}

/// Answers a connection over the cap with 503 and closes it.
async fn refuse(mut stream: TcpStream) {
    const BODY: &str = r#"{"errors":{"body":["the server is overloaded; try again shortly"]}}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_labels_are_a_fixed_set() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        for made_up in ["M00001", "get", "BREW", "PROPFIND"] {
            let method = Method::from_bytes(made_up.as_bytes()).unwrap();
            assert_eq!(method_label(&method), "other", "{made_up}");
        }
    }

    #[test]
    fn request_ids_are_kept_when_plain_and_short() {
        let mut headers = warp::http::HeaderMap::new();
        headers.insert("x-request-id", "abc-123_x.y:z".parse().unwrap());
        assert_eq!(request_id(&headers), "abc-123_x.y:z");
        for bad in ["has space", "<script>", &"a".repeat(129)] {
            headers.insert("x-request-id", bad.parse().unwrap());
            let id = request_id(&headers);
            assert_eq!(id.len(), 32, "{bad:?} replaced by a fresh id");
            assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        }
        assert_ne!(
            request_id(&warp::http::HeaderMap::new()),
            request_id(&warp::http::HeaderMap::new())
        );
    }
}
