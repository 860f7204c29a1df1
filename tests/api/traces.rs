//! Traces, end to end: a `conduit serve` process exports to an OTLP/HTTP
//! receiver started here, and the protobuf it posts is decoded and checked.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::helpers::{Backend, ServerProcess, TestDatabase};

const SECRET: &str = "a-secret-of-at-least-thirty-two-bytes";

/// How the receiver answers.
#[derive(Clone, Copy, PartialEq)]
enum Collector {
    /// 200, and keeps what it was sent.
    Working,
    /// Reads the request, never answers.
    Hanging,
    /// 200, and closes a kept-alive connection idle for 50 ms, as a
    /// collector's idle timeout does between two exports.
    Closing,
}

/// An OTLP/HTTP receiver on 127.0.0.1: every span posted to `/v1/traces`.
struct Receiver {
    addr: SocketAddr,
    spans: Arc<Mutex<Vec<Span>>>,
    service_names: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    async fn start(mode: Collector) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let spans = Arc::new(Mutex::new(Vec::new()));
        let service_names = Arc::new(Mutex::new(Vec::new()));
        let (kept, names) = (spans.clone(), service_names.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (kept, names) = (kept.clone(), names.clone());
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let (kept, names) = (kept.clone(), names.clone());
                    async move {
                        assert_eq!(request.uri().path(), "/v1/traces");
                        assert_eq!(
                            request.headers()["content-type"],
                            "application/x-protobuf",
                            "OTLP over HTTP with protobuf"
                        );
                        let body = request.into_body().collect().await?.to_bytes();
                        if mode == Collector::Hanging {
                            std::future::pending::<()>().await;
                        }
                        let export =
                            ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                        for resource in export.resource_spans {
                            for attribute in resource.resource.iter().flat_map(|r| &r.attributes) {
                                if attribute.key == "service.name" {
                                    names.lock().unwrap().push(text(attribute.value.as_ref()));
                                }
                            }
                            for scope in resource.scope_spans {
                                kept.lock().unwrap().extend(scope.spans);
                            }
                        }
                        Ok::<_, hyper::Error>(hyper::Response::new(Full::new(Bytes::new())))
                    }
                });
                tokio::spawn(async move {
                    let mut http = http1::Builder::new();
                    if mode == Collector::Closing {
                        http.timer(hyper_util::rt::TokioTimer::new())
                            .header_read_timeout(Duration::from_millis(50));
                    }
                    let _ = http
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            addr,
            spans,
            service_names,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The spans of `trace_id` once the server span and `at_least` spans
    /// in all have arrived (the exporter sends batches within 200 ms).
    async fn trace(&self, trace_id: &[u8], at_least: usize) -> Vec<Span> {
        for _ in 0..500 {
            let spans: Vec<Span> = self
                .spans
                .lock()
                .unwrap()
                .iter()
                .filter(|s| s.trace_id == trace_id)
                .cloned()
                .collect();
            let has_server = spans.iter().any(|s| s.kind == SpanKind::Server as i32);
            if has_server && spans.len() >= at_least {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("trace {} never arrived whole", hex(trace_id));
    }

    fn all(&self) -> Vec<Span> {
        self.spans.lock().unwrap().clone()
    }
}

fn text(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn attributes(span: &Span) -> HashMap<String, String> {
    span.attributes
        .iter()
        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn server(
    backend: Backend,
    db: &TestDatabase,
    dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> ServerProcess {
    let mut env = vec![
        ("CONDUIT_DATABASE_URL", db.url.as_str()),
        ("CONDUIT_SECRET", SECRET),
        ("CONDUIT_SCRYPT__LOG_N", "4"),
        ("CONDUIT_LOG_LEVEL", "info"),
    ];
    if backend == Backend::Postgres {
        env.push(("CONDUIT_MIGRATE_ON_START", "true"));
    }
    env.extend_from_slice(extra);
    ServerProcess::start(dir, &env)
}

/// The children of `parent` among `spans`.
fn children<'a>(spans: &'a [Span], parent: &Span) -> Vec<&'a Span> {
    spans
        .iter()
        .filter(|s| s.parent_span_id == parent.span_id)
        .collect()
}

async fn a_request_is_one_trace_from_its_server_span_to_each_statement(backend: Backend) {
    let receiver = Receiver::start(Collector::Working).await;
    let db = TestDatabase::new(backend);
    let dir = tempfile::tempdir().unwrap();
    let endpoint = receiver.endpoint();
    let app = server(
        backend,
        &db,
        dir.path(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SERVICE_NAME", "conduit-test"),
        ],
    );
    let client = reqwest::Client::new();
    let password = "a-password-nobody-guesses";
    let email = "jake.traced@example.com";
    let registered: Value = client
        .post(app.url("/api/users"))
        .json(&json!({"user": {"username": "jake", "email": email, "password": password}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = registered["user"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let created: Value = client
        .post(app.url("/api/articles"))
        .header("authorization", format!("Token {token}"))
        .json(&json!({"article": {"title": "Secret plans", "description": "d", "body": "b", "tagList": ["t"]}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let slug = created["article"]["slug"]
        .as_str()
        .expect("slug")
        .to_owned();

    // A gateway's trace, continued: same trace id, our server span its child.
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let answer = client
        .get(app.url(&format!("/api/articles/{slug}")))
        .header("authorization", format!("Token {token}"))
        .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
        .header("tracestate", "gateway=1")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let spans = receiver.trace(&unhex(caller_trace), 4).await;
    let roots: Vec<&Span> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Server as i32)
        .collect();
    assert_eq!(roots.len(), 1, "one server span per request");
    let root = roots[0];
    assert_eq!(
        root.name, "GET /api/articles/:slug",
        "named by route template"
    );
    assert_eq!(
        root.parent_span_id,
        unhex(caller_span),
        "the caller's span is the parent"
    );
    assert_eq!(root.trace_state, "gateway=1", "tracestate carried");
    let attrs = attributes(root);
    assert_eq!(attrs["http.request.method"], "GET");
    assert_eq!(attrs["http.route"], "/api/articles/:slug");
    assert_eq!(attrs["http.response.status_code"], "200");
    assert_eq!(receiver.service_names.lock().unwrap()[0], "conduit-test");
    // Store calls under the server span; under them the pool wait and the
    // statements, named by operation and table, tagged with the backend.
    let store_calls = children(&spans, root);
    assert!(
        store_calls.iter().any(|s| s.name.starts_with("store ")),
        "a store call under the server span: {:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let system = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgresql",
    };
    let mut statements = 0;
    for call in store_calls.iter().filter(|s| s.name.starts_with("store ")) {
        let under = children(&spans, call);
        assert!(
            under.iter().any(|s| s.name == "pool.wait"),
            "pool wait under {}",
            call.name
        );
        for statement in under.iter().filter(|s| s.name.starts_with("SELECT")) {
            let attrs = attributes(statement);
            assert_eq!(attrs["db.system.name"], system);
            assert_eq!(attrs["db.operation.name"], "SELECT");
            assert!(statement.start_time_unix_nano >= call.start_time_unix_nano);
            assert!(statement.end_time_unix_nano <= call.end_time_unix_nano);
            statements += 1;
        }
    }
    assert!(statements >= 1, "the article's SELECT is a span");

    // The access log line carries the same trace id beside the request id.
    let logged = wait_for_log(&app, |line| {
        line["message"] == "request" && line["route"] == "/api/articles/:slug"
    })
    .await;
    assert_eq!(logged["trace_id"], caller_trace);
    assert!(logged["request_id"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));

    // The latency histogram points at the trace, in OpenMetrics only.
    let open = client
        .get(app.url("/metrics"))
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert!(open.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let open = open.text().await.unwrap();
    assert!(open.ends_with("# EOF\n"));
    let exemplar = format!("# {{trace_id=\"{caller_trace}\"}}");
    assert!(
        open.lines().any(|line| line
            .starts_with("conduit_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/articles/:slug\"")
            && line.contains(&exemplar)),
        "an exemplar with the trace id on the route's bucket"
    );
    let classic = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !classic.contains("trace_id"),
        "the classic format has no exemplars"
    );

    // A caller that decided not to sample: no spans, its trace id still logged.
    let unsampled = "0af7651916cd43dd8448eb211c80319c";
    let answer = client
        .get(app.url("/api/tags"))
        .header("traceparent", format!("00-{unsampled}-b7ad6b7169203331-00"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let logged = wait_for_log(&app, |line| line["route"] == "/api/tags").await;
    assert_eq!(logged["trace_id"], unsampled);

    // Spans are exported in the order they end: once a later trace has
    // arrived, the unsampled request's spans would have too.
    let later = "5c1a4ef3e2d84b8a9f0e1d2c3b4a5968";
    let answer = client
        .get(app.url("/api/tags"))
        .header("traceparent", format!("00-{later}-b7ad6b7169203332-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    receiver.trace(&unhex(later), 1).await;
    assert!(
        receiver
            .all()
            .iter()
            .all(|s| s.trace_id != unhex(unsampled)),
        "no span of a trace its caller did not sample"
    );

    // A page of the web app: its rendering is a span; a large list
    // compressed for the client is a span too; a login hashes.
    for n in 0..25 {
        let _ = client
            .post(app.url("/api/articles"))
            .header("authorization", format!("Token {token}"))
            .json(&json!({"article": {"title": format!("Plan {n}"), "description": "a description long enough", "body": "b", "tagList": []}}))
            .send()
            .await
            .unwrap();
    }
    let page = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let list = client
        .get(app.url("/api/articles?limit=20"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(list.headers()["content-encoding"], "gzip");
    let login = client
        .post(app.url("/api/users/login"))
        .json(&json!({"user": {"email": email, "password": password}}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    for (route, child) in [
        ("GET /", "render "),
        ("GET /api/articles", "compress"),
        ("POST /api/users/login", "password.hash"),
    ] {
        let found = wait_until(|| {
            let all = receiver.all();
            all.iter().filter(|s| s.name == route).any(|root| {
                all.iter()
                    .any(|s| s.trace_id == root.trace_id && s.name.starts_with(child))
            })
        })
        .await;
        assert!(found, "{route} has a {child} span");
    }

    // Nothing a client sent in confidence, and no SQL parameter, is in any
    // span: not the password, the token, the email, the slug or the title.
    let all = receiver.all();
    assert!(all.len() > 10);
    for span in &all {
        let mut values: Vec<String> = attributes(span).into_values().collect();
        values.push(span.name.clone());
        for event in &span.events {
            values.push(event.name.clone());
            values.extend(event.attributes.iter().map(|kv| text(kv.value.as_ref())));
        }
        for value in values {
            for secret in [
                password,
                token.as_str(),
                email,
                slug.as_str(),
                "Secret plans",
            ] {
                assert!(
                    !value.contains(secret),
                    "span {} carries {secret:?}: {value}",
                    span.name
                );
            }
        }
    }
}

async fn wait_for_log(app: &ServerProcess, wanted: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..250 {
        let found = app
            .logs
            .lock()
            .unwrap()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|line| wanted(line));
        if let Some(line) = found {
            return line;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no such log line in {:?}", app.logs.lock().unwrap());
}

async fn wait_until(condition: impl Fn() -> bool) -> bool {
    for _ in 0..250 {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// The value of `conduit_trace_spans_total{outcome=...}` in /metrics.
async fn spans_counted(app: &ServerProcess, outcome: &str) -> f64 {
    app.metric(&format!(
        "conduit_trace_spans_total{{outcome=\"{outcome}\"}}"
    ))
    .await
}

async fn a_collector_that_hangs_or_is_gone_costs_requests_nothing(backend: Backend) {
    let hanging = Receiver::start(Collector::Hanging).await;
    // A port nothing listens on: bound, then released.
    let gone = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    for (endpoint, outcome) in [(hanging.endpoint(), "dropped"), (gone, "failed")] {
        let db = TestDatabase::new(backend);
        let dir = tempfile::tempdir().unwrap();
        let app = server(
            backend,
            &db,
            dir.path(),
            &[
                ("CONDUIT_TRACING__ENDPOINT", &endpoint),
                ("CONDUIT_TRACING__QUEUE_SPANS", "8"),
                ("CONDUIT_TRACING__EXPORT_TIMEOUT_MS", "60000"),
            ],
        );
        let client = reqwest::Client::new();
        // Every request is answered while the exporter is stuck or failing.
        for _ in 0..300 {
            let answer = client.get(app.url("/api/tags")).send().await.unwrap();
            assert_eq!(answer.status(), 200);
        }
        let counted = wait_until_async(|| spans_counted(&app, outcome)).await;
        assert!(counted > 0.0, "spans {outcome} are counted");
        assert_eq!(spans_counted(&app, "exported").await, 0.0);
        // Nor does it hold up a shutdown: the backlog is not waited for.
        let mut app = app;
        app.signal("TERM");
        let status = app.wait(Duration::from_secs(30));
        assert!(status.success(), "stopped cleanly: {status:?}");
    }
}

async fn a_collector_that_closes_its_connections_loses_no_export(backend: Backend) {
    let receiver = Receiver::start(Collector::Closing).await;
    let db = TestDatabase::new(backend);
    let dir = tempfile::tempdir().unwrap();
    let endpoint = receiver.endpoint();
    let app = server(
        backend,
        &db,
        dir.path(),
        &[("CONDUIT_TRACING__ENDPOINT", &endpoint)],
    );
    let client = reqwest::Client::new();
    // Three exports apart in time, each on a connection the last one closed.
    for trace in [
        "11111111111111111111111111111111",
        "22222222222222222222222222222222",
        "33333333333333333333333333333333",
    ] {
        let answer = client
            .get(app.url("/api/tags"))
            .header("traceparent", format!("00-{trace}-0000000000000001-01"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        receiver.trace(&unhex(trace), 1).await;
        // Long enough for the collector to close the idle connection.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(spans_counted(&app, "failed").await, 0.0, "no batch failed");
}

async fn wait_until_async<F: std::future::Future<Output = f64>>(value: impl Fn() -> F) -> f64 {
    for _ in 0..250 {
        let v = value().await;
        if v > 0.0 {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    0.0
}

backend_tests!(
    a_request_is_one_trace_from_its_server_span_to_each_statement,
    a_collector_that_closes_its_connections_loses_no_export,
    a_collector_that_hangs_or_is_gone_costs_requests_nothing,
);
