//! Operating the server: probes, metrics, request ids, abuse limits, load
//! shedding, slow clients and CORS.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

async fn probes_answer_and_readiness_checks_the_database(app: TestApp) {
    let health = app.get("/healthz", None).await;
    assert_eq!(
        (health.status, health.body["status"].as_str()),
        (200, Some("ok"))
    );
    let ready = app.get("/readyz", None).await;
    assert_eq!(
        (ready.status, ready.body["status"].as_str()),
        (200, Some("ready"))
    );
    let wrong = app.send(Method::POST, "/healthz", None, None).await;
    assert_eq!(wrong.status, 405);
}

async fn metrics_count_requests_by_route_template_and_status(app: TestApp) {
    let jake = app.register("jake").await;
    app.get("/api/articles/no-such-article", None).await;
    app.get("/api/articles/another-missing-one", None).await;
    app.get("/api/profiles/jake", Some(&jake.token)).await;
    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = resp.text().await.unwrap();
    for needle in [
        r#"conduit_http_requests_total{method="GET",route="/api/articles/:slug",status="404"}"#,
        r#"conduit_http_requests_total{method="POST",route="/api/users",status="201"}"#,
        r#"conduit_http_request_duration_seconds_bucket{method="GET",route="/api/profiles/:username",le="#,
        "conduit_http_requests_in_flight",
        r#"conduit_db_pool_connections{state="idle"}"#,
        "conduit_db_pool_max_connections",
        "conduit_db_pool_wait_seconds_count",
        "conduit_password_hash_queue_depth",
        "conduit_password_hash_wait_seconds",
        "conduit_build_info{revision=",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}");
    }
    assert!(
        !text.contains("no-such-article"),
        "raw paths never become labels"
    );
}

async fn request_ids_are_kept_or_generated_and_returned(app: TestApp) {
    let kept = app
        .send_raw(
            Method::GET,
            "/api/tags",
            &[("x-request-id", "trace-42")],
            "",
        )
        .await;
    assert_eq!(kept.headers["x-request-id"], "trace-42");
    let replaced = app
        .send_raw(
            Method::GET,
            "/api/tags",
            &[("x-request-id", "bad id <>")],
            "",
        )
        .await;
    let id = replaced.headers["x-request-id"].to_str().unwrap();
    assert!(
        id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    let errors_too = app.get("/api/nothing", None).await;
    assert!(errors_too.headers.contains_key("x-request-id"));
}

async fn cors_preflight_is_answered(app: TestApp) {
    let resp = app
        .send_raw(
            Method::OPTIONS,
            "/api/articles",
            &[
                ("origin", "https://app.example"),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization, content-type",
                ),
            ],
            "",
        )
        .await;
    assert_eq!(resp.status, 200);
    assert!(resp.headers.contains_key("access-control-allow-origin"));
    assert!(resp.headers["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
}

async fn cors_responses_expose_the_request_id_and_retry_after(app: TestApp) {
    let resp = app
        .send_raw(
            Method::GET,
            "/api/tags",
            &[("origin", "https://app.example")],
            "",
        )
        .await;
    assert_eq!(resp.status, 200);
    assert!(resp.headers.contains_key("access-control-allow-origin"));
    let exposed = resp
        .headers
        .get("access-control-expose-headers")
        .map(|v| v.to_str().unwrap().to_ascii_lowercase())
        .unwrap_or_default();
    for header in ["x-request-id", "retry-after", "etag"] {
        assert!(
            exposed.split(',').any(|h| h.trim() == header),
            "{header} exposed: {exposed:?}"
        );
    }
}

/// RFC 9110: HEAD wherever GET is served, with the same status and
/// headers and no body.
async fn head_answers_like_get_without_a_body(app: TestApp) {
    let jake = app.register("jake").await;
    app.create_article(&jake, "Headed", &["x"]).await;
    let cases = [
        ("/api/tags", None),
        ("/api/articles", None),
        ("/api/articles/headed", Some(jake.token.as_str())),
        ("/api/articles/no-such-article", None),
        ("/api/user", None),
        ("/api/user", Some(jake.token.as_str())),
        ("/api/profiles/jake", None),
        ("/healthz", None),
    ];
    for (path, token) in cases {
        let send = |method: Method| {
            let mut request = app.client.request(method, app.url(path));
            if let Some(token) = token {
                request = request.header("Authorization", format!("Token {token}"));
            }
            request.send()
        };
        let get = send(Method::GET).await.unwrap();
        let head = send(Method::HEAD).await.unwrap();
        assert_eq!(head.status(), get.status(), "HEAD {path}");
        for name in ["content-type", "content-length", "www-authenticate"] {
            assert_eq!(
                head.headers().get(name),
                get.headers().get(name),
                "HEAD {path}: {name}"
            );
        }
        let get_length = get.bytes().await.unwrap().len();
        assert!(get_length > 0, "GET {path} has a body");
        assert!(
            head.bytes().await.unwrap().is_empty(),
            "HEAD {path}: no body"
        );
    }
    let wrong = app.send(Method::HEAD, "/api/users/login", None, None).await;
    assert_eq!(wrong.status, 405, "no GET, so no HEAD");
    assert_eq!(wrong.headers["allow"], "POST");
}

/// Made-up methods must not become metric label values: each would be a
/// new series kept for the life of the process.
async fn made_up_methods_do_not_grow_the_metrics(app: TestApp) {
    for n in 0..2_000 {
        let method = Method::from_bytes(format!("M{n:05}").as_bytes()).unwrap();
        let resp = app
            .client
            .request(method, app.url("/api/tags"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405);
    }
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.len() < 100 * 1024,
        "/metrics is {} bytes after 2,000 made-up methods",
        text.len()
    );
    assert!(
        text.contains(
            r#"conduit_http_requests_total{method="other",route="/api/tags",status="405"}"#
        ),
        "made-up methods are counted as other"
    );
    assert!(!text.contains("M00001"));
}

async fn no_server_version_is_revealed(app: TestApp) {
    let resp = app.get("/api/tags", None).await;
    assert!(!resp.headers.contains_key("server"), "{:?}", resp.headers);
}

http_tests!(
    probes_answer_and_readiness_checks_the_database,
    metrics_count_requests_by_route_template_and_status,
    request_ids_are_kept_or_generated_and_returned,
    cors_preflight_is_answered,
    cors_responses_expose_the_request_id_and_retry_after,
    head_answers_like_get_without_a_body,
    made_up_methods_do_not_grow_the_metrics,
    no_server_version_is_revealed,
);

/// The abuse limits, on both backends: counted in memory on SQLite, in
/// the database on PostgreSQL.
mod limits {
    use super::*;

    backend_tests!(
        failed_logins_are_limited_per_email_with_retry_after,
        a_burst_of_wrong_passwords_gets_at_most_the_limit_through,
        successful_logins_do_not_count_against_the_limit,
        failed_logins_and_registrations_are_limited_per_client_address,
        forwarded_for_from_an_untrusted_peer_is_ignored,
    );
}

fn login_body(email: &str) -> serde_json::Value {
    json!({"user": {"email": email, "password": "not-the-password"}})
}

async fn failed_logins_are_limited_per_email_with_retry_after(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.limits.login_failures_per_email = 3).await;
    let jake = app.register("jake").await;
    for attempt in 0..3 {
        let resp = app
            .post("/api/users/login", None, login_body(&jake.email))
            .await;
        assert_eq!(resp.status, 401, "attempt {attempt}");
    }
    let limited = app
        .post("/api/users/login", None, login_body("JAKE@example.com"))
        .await;
    limited.assert_error(429, "too many attempts", "fourth failure, any case");
    let wait: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=660).contains(&wait), "{wait}");
    let correct = app
        .post(
            "/api/users/login",
            None,
            json!({"user": {"email": jake.email, "password": jake.password}}),
        )
        .await;
    assert_eq!(
        correct.status, 429,
        "even the right password waits: that is what stops guessing"
    );
    let other = app
        .post("/api/users/login", None, login_body("someone@example.com"))
        .await;
    assert_eq!(other.status, 401, "other emails are unaffected");
}

/// Attempts are counted before the password is hashed: a burst of
/// concurrent guesses cannot all pass the check while the first are hashed.
async fn a_burst_of_wrong_passwords_gets_at_most_the_limit_through(backend: Backend) {
    let app = std::sync::Arc::new(spawn_app_on(backend).await);
    let limit = app.config.limits.login_failures_per_email;
    let jake = app.register("jake").await;
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (app, email) = (app.clone(), jake.email.clone());
            tokio::spawn(async move {
                app.post("/api/users/login", None, login_body(&email))
                    .await
                    .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let unauthorized = statuses.iter().filter(|s| **s == 401).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    // Counted under one lock per key (in memory, or in PostgreSQL):
    // exactly the limit gets through.
    assert_eq!(
        (unauthorized, limited),
        (limit as usize, 100 - limit as usize),
        "401s and 429s of 100 concurrent guesses: {statuses:?}"
    );
    let right = app
        .post(
            "/api/users/login",
            None,
            json!({"user": {"email": jake.email, "password": jake.password}}),
        )
        .await;
    assert_eq!(
        right.status, 429,
        "the limit holds for the right password too"
    );
}

/// A right password is forgiven: it does not use up the budget.
async fn successful_logins_do_not_count_against_the_limit(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.limits.login_failures_per_email = 2).await;
    let jake = app.register("jake").await;
    let right = json!({"user": {"email": jake.email, "password": jake.password}});
    for attempt in 0..5 {
        let resp = app.post("/api/users/login", None, right.clone()).await;
        assert_eq!(resp.status, 200, "login {attempt}: {:?}", resp.body);
    }
    for attempt in 0..2 {
        let resp = app
            .post("/api/users/login", None, login_body(&jake.email))
            .await;
        assert_eq!(resp.status, 401, "failure {attempt}");
    }
    let limited = app.post("/api/users/login", None, right).await;
    assert_eq!(limited.status, 429);
}

async fn failed_logins_and_registrations_are_limited_per_client_address(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.limits.login_failures_per_address = 2;
        c.limits.registrations_per_address = 2;
        c.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    let from = |ip: &'static str| {
        [
            ("x-forwarded-for", ip),
            ("content-type", "application/json"),
        ]
    };
    let register = |n: u32| {
        format!(
            r#"{{"user":{{"username":"u{n}","email":"u{n}@example.com","password":"password1"}}}}"#
        )
    };
    for n in 0..2 {
        let resp = app
            .send_raw(
                Method::POST,
                "/api/users",
                &from("198.51.100.7"),
                register(n),
            )
            .await;
        assert_eq!(resp.status, 201, "{:?}", resp.body);
    }
    let limited = app
        .send_raw(
            Method::POST,
            "/api/users",
            &from("198.51.100.7"),
            register(2),
        )
        .await;
    limited.assert_error(
        429,
        "too many attempts",
        "third registration from one address",
    );
    let elsewhere = app
        .send_raw(
            Method::POST,
            "/api/users",
            &from("198.51.100.8"),
            register(3),
        )
        .await;
    assert_eq!(
        elsewhere.status, 201,
        "another client behind the trusted proxy has its own budget"
    );

    let bad = r#"{"user":{"email":"a@b.c","password":"wrong-password"}}"#;
    for _ in 0..2 {
        let resp = app
            .send_raw(Method::POST, "/api/users/login", &from("203.0.113.1"), bad)
            .await;
        assert_eq!(resp.status, 401);
    }
    let limited = app
        .send_raw(Method::POST, "/api/users/login", &from("203.0.113.1"), bad)
        .await;
    limited.assert_error(429, "too many attempts", "third failure from one address");
}

async fn forwarded_for_from_an_untrusted_peer_is_ignored(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.limits.registrations_per_address = 1).await;
    let register = |n: u32| {
        format!(
            r#"{{"user":{{"username":"v{n}","email":"v{n}@example.com","password":"password1"}}}}"#
        )
    };
    let first = app
        .send_raw(
            Method::POST,
            "/api/users",
            &[
                ("x-forwarded-for", "198.51.100.1"),
                ("content-type", "application/json"),
            ],
            register(0),
        )
        .await;
    assert_eq!(first.status, 201);
    let spoofed = app
        .send_raw(
            Method::POST,
            "/api/users",
            &[
                ("x-forwarded-for", "198.51.100.2"),
                ("content-type", "application/json"),
            ],
            register(1),
        )
        .await;
    assert_eq!(
        spoofed.status, 429,
        "a forged header does not buy a new budget"
    );
}

#[tokio::test]
async fn requests_beyond_the_in_flight_cap_are_shed_with_503() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.max_in_flight = 1;
        c.scrypt.log_n = 14;
        c.hash_concurrency = Some(1);
    })
    .await;
    let jake = app.register("jake").await;
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (app, email, password) = (app.clone(), jake.email.clone(), jake.password.clone());
        tasks.push(tokio::spawn(async move {
            app.post(
                "/api/users/login",
                None,
                json!({"user": {"email": email, "password": password}}),
            )
            .await
        }));
    }
    let mut shed = 0;
    for task in tasks {
        let resp = task.await.unwrap();
        match resp.status {
            200 => {}
            503 => {
                resp.assert_error(503, "overloaded", "shed request");
                assert_eq!(resp.headers["retry-after"], "1");
                shed += 1;
            }
            other => panic!("unexpected {other}: {:?}", resp.body),
        }
    }
    assert!(shed > 0, "with one slot, concurrent logins are shed");
}

/// Holds a request in handling: its body is announced and never sent, so
/// its handler waits for it. Dropping the stream ends it.
async fn a_request_left_waiting(app: &TestApp) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/users HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{",
        app.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Let the server take it in before the next request arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream
}

/// A request from a page on another origin, read off the socket.
async fn from_another_origin(app: &TestApp) -> RawResponse {
    raw_exchange(
        app.addr,
        "GET /api/tags HTTP/1.1\r\nOrigin: https://app.example",
        b"",
    )
    .await
    .expect("a whole answer")
}

/// What a browser on another origin needs to read a 503 and its wait.
#[track_caller]
fn assert_readable_from_another_origin(answer: &RawResponse, message: &str, context: &str) {
    assert_eq!(answer.status, 503, "{context}: {}", answer.head);
    assert!(
        answer.text().contains(message),
        "{context}: {}",
        answer.text()
    );
    let header = |name: &str| {
        answer
            .head
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(
        header("access-control-allow-origin"),
        "https://app.example",
        "{context}: {}",
        answer.head
    );
    assert!(
        header("access-control-expose-headers").contains("retry-after"),
        "{context}: {}",
        answer.head
    );
    assert_eq!(header("retry-after"), "1", "{context}");
}

/// The 503s the server makes itself, outside the routes, carry the same
/// CORS headers as the routes' answers: shed for the in-flight cap, timed
/// out, and refused for the connection cap.
#[tokio::test]
async fn the_servers_own_503s_are_readable_from_another_origin() {
    let shedding = spawn_app_with(Backend::Sqlite, |c| c.max_in_flight = 1).await;
    let _held = a_request_left_waiting(&shedding).await;
    assert_readable_from_another_origin(
        &from_another_origin(&shedding).await,
        "overloaded",
        "in-flight cap",
    );

    let capped = spawn_app_with(Backend::Sqlite, |c| c.max_connections = 1).await;
    let _held = a_request_left_waiting(&capped).await;
    assert_readable_from_another_origin(
        &from_another_origin(&capped).await,
        "overloaded",
        "connection cap",
    );

    let slow = spawn_app_with(Backend::Sqlite, |c| c.request_timeout_secs = 1).await;
    // A body announced and never sent: the request times out waiting.
    let mut stream = tokio::net::TcpStream::connect(slow.addr).await.unwrap();
    let head = format!(
        "POST /api/users HTTP/1.1\r\nHost: {}\r\nOrigin: https://app.example\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
        slow.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        // Read up to the end of the answer's body: the connection may stay
        // open, since the request's body never ended.
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&chunk[..n]);
            if parse_raw_response(&answer).is_ok() {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "an answer within 10 s");
    assert_readable_from_another_origin(
        &parse_raw_response(&answer).expect("a whole answer"),
        "took too long",
        "request timeout",
    );
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.header_read_timeout_secs = 1).await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(b"GET /api/tags HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buffer)).await;
    assert!(
        read.is_ok(),
        "the server closed the connection within the timeout"
    );
}
