//! The HTTP server around the warp routes: connections (hyper, HTTP/1.1),
//! and for every request an id, a log line, metrics, a timeout and load
//! shedding, CORS, revalidation of JSON reads, compression of large bodies,
//! and the draining of a body the answer left unread; then graceful
//! shutdown.
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

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Semaphore};
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::compression::{Compression, CompressionLevel};
use tower_service::Service;
use tracing::Instrument;
use warp::http::header::EXPECT;
use warp::http::{HeaderMap, HeaderValue, Method, Request, Response as HttpResponse};
use warp::reply::{Reply, Response};

use crate::http::client::TrustedProxies;
use crate::http::conditional::Revalidation;
use crate::http::cors::{Cors, Verdict};
use crate::http::rejection::UNKNOWN_ROUTE;
use crate::http::{ApiError, Served};
use crate::telemetry::metrics::METRICS;
use crate::telemetry::request_tag::{RequestTag, Tagged};
use crate::telemetry::traces::RequestTrace;
use crate::telemetry::{access, exemplars};

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
            tokio::spawn(refuse(stream, peer, Arc::clone(&shared)));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(Spanned(compressed(Handler {
            shared: Arc::clone(&shared),
            peer,
            over_cap: false,
        })));
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
    /// The connection came in over the connection cap: every request on
    /// it is answered 503.
    over_cap: bool,
}

impl Service<Request<Incoming>> for Handler {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let (shared, peer, over_cap) = (Arc::clone(&self.shared), self.peer, self.over_cap);
        Box::pin(async move { Ok(handle(request, peer, &shared, over_cap).await) })
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

async fn handle(
    request: Request<Incoming>,
    peer: SocketAddr,
    shared: &Shared,
    over_cap: bool,
) -> Response {
    let started = Instant::now();
    let _in_flight = InFlight::enter();
    let (leftover_tx, mut leftover) = oneshot::channel();
    let mut request = request.map(|body| Watched::new(body, leftover_tx));
    let waits_for_continue = expects_continue(request.headers());
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
    let trace = RequestTrace::begin(request.headers(), method, route, &id);
    let tag = Arc::new(RequestTag {
        request_id: id,
        trace_id: trace.trace_id,
        traced: trace.traced,
    });
    let client = shared
        .options
        .trusted_proxies
        .client(peer.ip(), request.headers());
    request.extensions_mut().insert(client);
    // Probes are asked every few seconds by the kubelet and never cached:
    // no ETag to compute for them.
    let revalidation = match crate::http::ops::is_probe(route) {
        true => None,
        false => Revalidation::of(request.method(), request.headers()),
    };
    let cors = shared
        .routes
        .cors(request.method(), request.uri().path(), request.headers());
    let span = &trace.span;

    let (mut response, cors_origin) = match cors {
        Verdict::Preflight(response) => {
            drop(request);
            (response, None)
        }
        Verdict::Refused => {
            drop(request);
            (Cors::refusal(), None)
        }
        Verdict::NotCors => (
            Tagged::new(Arc::clone(&tag), answer(request, shared, over_cap, span)).await,
            None,
        ),
        Verdict::Allowed(origin) => (
            Tagged::new(Arc::clone(&tag), answer(request, shared, over_cap, span)).await,
            Some(origin),
        ),
    };
    // The request is gone by now (answered, or dropped unread): what its
    // body left unread has been handed back.
    if let Ok(unread) = leftover.try_recv() {
        if unread.polled || !waits_for_continue {
            linger(unread.body).await;
        }
    }
    if let Some(revalidation) = revalidation {
        response = revalidation.finish(response).await;
    }
    if let Some(origin) = cors_origin {
        Cors::expose_to(origin, &mut response);
    }
    if let Ok(value) = HeaderValue::from_str(&tag.request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    let status = response.status();
    let latency = started.elapsed();
    trace.finish(status.as_u16());
    METRICS.observe_request(method, route, status.as_str(), latency.as_secs_f64());
    if access::enabled() {
        access::log(access::Entry {
            at: std::time::SystemTime::now(),
            request: tag,
            method,
            route,
            status: status.as_u16(),
            latency,
        });
    }
    if let (true, Some(trace_id)) = (trace.traced, trace.trace_id) {
        exemplars::record(method, route, latency.as_secs_f64(), trace_id);
    }
    if trace.traced {
        response.extensions_mut().insert(RequestSpan(trace.span));
    }
    response
}

/// A traced request's span, handed to [`Spanned`] with the response so the
/// compression of its body is a span of the same trace.
#[derive(Clone)]
struct RequestSpan(tracing::Span);

/// The outermost service of a connection: traces the compression of a
/// traced request's body (it happens as hyper sends it, after the
/// handler has returned).
#[derive(Clone)]
struct Spanned<S>(S);

type SpanBody<B> = fn(HttpResponse<B>) -> HttpResponse<SpannedBody<B>>;

impl<S, B> Service<Request<Incoming>> for Spanned<S>
where
    S: Service<Request<Incoming>, Response = HttpResponse<B>>,
{
    type Response = HttpResponse<SpannedBody<B>>;
    type Error = S::Error;
    type Future = futures_util::future::MapOk<S::Future, SpanBody<B>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        use futures_util::TryFutureExt;
        self.0.call(request).map_ok(spanned as SpanBody<B>)
    }
}

fn spanned<B>(response: HttpResponse<B>) -> HttpResponse<SpannedBody<B>> {
    let (mut parts, body) = response.into_parts();
    let span = parts
        .extensions
        .remove::<RequestSpan>()
        .and_then(|request| {
            let encoding = parts.headers.get(warp::http::header::CONTENT_ENCODING)?;
            let encoding = encoding.to_str().unwrap_or("other");
            Some(request.0.in_scope(|| {
                tracing::trace_span!("compress", http.response.content_encoding = encoding)
            }))
        });
    HttpResponse::from_parts(
        parts,
        SpannedBody {
            body: Box::pin(body),
            span,
        },
    )
}

/// A response body that enters its span while it is produced. The body
/// is boxed: the compression layer's body type holds every encoder's state
/// inline (kilobytes), and hyper moves the body several times per
/// response; a box moves as a pointer.
struct SpannedBody<B> {
    body: Pin<Box<B>>,
    span: Option<tracing::Span>,
}

impl<B: Body> Body for SpannedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = &mut *self;
        let _entered = this.span.as_ref().map(tracing::Span::enter);
        let polled = this.body.as_mut().poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            drop(_entered);
            this.span = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The routes' answer, within the request timeout; or 503 at once when
/// the connection is over the cap or too many requests are in handling.
async fn answer(
    request: Request<Watched>,
    shared: &Shared,
    over_cap: bool,
    span: &tracing::Span,
) -> Response {
    let permit = if over_cap {
        None
    } else {
        shared.in_flight.try_acquire().ok()
    };
    let Some(_permit) = permit else {
        if !over_cap {
            METRICS.shed.inc();
        }
        return ApiError::Unavailable("the server is overloaded; try again shortly".into())
            .into_response();
    };
    let mut routes = warp::service(shared.routes.filter.clone());
    let call = routes.call(request).instrument(span.clone());
    match tokio::time::timeout(shared.options.request_timeout, call).await {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_) => span.in_scope(|| {
            tracing::warn!("request timed out");
            ApiError::Unavailable("the request took too long; try again".into()).into_response()
        }),
    }
}

/// Whether the client waits for `100 Continue` before it sends its body
/// (hyper sends it when the body is first read).
fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// At most this much of a body left unread is read and thrown away before
/// the answer goes out...
const LINGER_BYTES: u64 = 4 * 1024 * 1024;

/// ...for at most this long...
const LINGER_TIME: Duration = Duration::from_secs(5);

/// ...and only while the client keeps sending.
const LINGER_IDLE: Duration = Duration::from_secs(1);

/// Reads and discards what is left of a request body, within
/// [`LINGER_BYTES`], [`LINGER_TIME`] and [`LINGER_IDLE`], before the
/// answer is sent.
///
/// A client that sends its whole body without waiting for `100 Continue`
/// (browsers, most HTTP libraries) is still writing when a refusal (413,
/// 401, 503) is ready. Closing the connection then, with its data unread,
/// makes the kernel reset it, and the reset discards the answer before the
/// client reads it. Reading the rest first lets the answer arrive, and the
/// connection can even be kept. A body too large to drain within the
/// bounds is not drained at all: its connection is closed as before.
async fn linger(mut body: Incoming) {
    if body.size_hint().lower() > LINGER_BYTES {
        return;
    }
    let drain = async {
        let mut read = 0u64;
        while let Ok(Some(Ok(frame))) = tokio::time::timeout(LINGER_IDLE, body.frame()).await {
            read += frame.data_ref().map_or(0, |data| data.len() as u64);
            if read > LINGER_BYTES {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}

/// What a request's body handed back when dropped before its end.
struct Unread {
    body: Incoming,
    /// Someone read from it, so hyper has sent `100 Continue`.
    polled: bool,
}

/// A request body that hands back whatever its reader left unread, so the
/// server can drain it ([`linger`]).
struct Watched {
    body: Option<Incoming>,
    polled: bool,
    /// The body ended, or failed: nothing is left to drain.
    done: bool,
    unread: Option<oneshot::Sender<Unread>>,
}

impl Watched {
    fn new(body: Incoming, unread: oneshot::Sender<Unread>) -> Watched {
        Watched {
            body: Some(body),
            polled: false,
            done: false,
            unread: Some(unread),
        }
    }
}

impl Body for Watched {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        this.polled = true;
        let Some(body) = this.body.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            this.done = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.body.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let (Some(body), Some(unread)) = (self.body.take(), self.unread.take()) {
            if !self.done && !body.is_end_stream() {
                let polled = self.polled;
                let _ = unread.send(Unread { body, polled });
            }
        }
    }
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

/// How long a connection over the cap has to send its request.
const REFUSAL_HEADER_TIME: Duration = Duration::from_secs(2);

/// Answers a connection over the cap: its request gets 503 (through
/// [`handle`], so with the CORS headers, the request id and the draining
/// of its body that any answer has), and the connection is closed. It
/// holds no place among the connections served.
async fn refuse(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(REFUSAL_HEADER_TIME)
        .keep_alive(false);
    let service = TowerToHyperService::new(Handler {
        shared,
        peer,
        over_cap: true,
    });
    let connection = http.serve_connection(TokioIo::new(stream), service);
    let bound = REFUSAL_HEADER_TIME + LINGER_TIME + Duration::from_secs(1);
    if let Ok(Err(error)) = tokio::time::timeout(bound, connection).await {
        tracing::debug!(%error, "refused connection ended with an error");
    }
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
