//! On the wire: compression negotiated with `Accept-Encoding`, conditional
//! GET with weak `ETag`s and `If-None-Match`, and refusals that reach a
//! client still sending its body.

use std::io::Read;

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

/// Enough articles that the list is well over the compression threshold.
async fn a_full_list(app: &TestApp) -> TestUser {
    let jake = app.register("jake").await;
    for n in 0..8 {
        app.create_article(&jake, &format!("Article number {n}"), &["rust", "web"])
            .await;
    }
    jake
}

/// Status, headers and raw body bytes of a GET with `headers`.
async fn fetch(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> (u16, HeaderMap, Vec<u8>) {
    let mut request = app.client.request(Method::GET, app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let resp = request.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.expect("body").to_vec())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().expect("ASCII header"))
}

fn decode(encoding: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    match encoding {
        None => plain.extend_from_slice(body),
        Some("gzip") => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut plain)
                .expect("valid gzip");
        }
        Some("br") => {
            brotli_decompressor::Decompressor::new(body, 4096)
                .read_to_end(&mut plain)
                .expect("valid brotli");
        }
        Some(other) => panic!("unexpected content-encoding {other}"),
    }
    plain
}

async fn large_bodies_are_compressed_as_the_client_prefers(app: TestApp) {
    a_full_list(&app).await;
    let (_, plain_headers, plain) = fetch(&app, "/api/articles", &[]).await;
    assert!(
        plain.len() > 2048,
        "the list is large: {} bytes",
        plain.len()
    );
    assert_eq!(
        header(&plain_headers, "content-encoding"),
        None,
        "not asked for"
    );
    let cases = [
        ("gzip", Some("gzip")),
        ("br", Some("br")),
        ("gzip;q=0.5, br", Some("br")),
        ("br;q=0.1, gzip", Some("gzip")),
        ("gzip, br;q=0", Some("gzip")),
        ("identity", None),
        ("compress, x-made-up", None),
    ];
    for (accept, expected) in cases {
        let (status, headers, body) =
            fetch(&app, "/api/articles", &[("accept-encoding", accept)]).await;
        assert_eq!(status, 200, "{accept}");
        let encoding = header(&headers, "content-encoding");
        assert_eq!(encoding, expected, "Accept-Encoding: {accept}");
        assert!(
            header(&headers, "vary").is_some_and(|v| v.contains("accept-encoding")),
            "{accept}: {headers:?}"
        );
        if expected.is_some() {
            assert!(
                body.len() * 3 < plain.len(),
                "{accept}: {} of {} bytes",
                body.len(),
                plain.len()
            );
            assert_eq!(header(&headers, "content-length"), None, "{accept}");
        }
        let decoded: Value = serde_json::from_slice(&decode(encoding, &body)).expect("JSON");
        let expected_json: Value = serde_json::from_slice(&plain).unwrap();
        assert_eq!(decoded, expected_json, "{accept}: the same list");
    }
    // HEAD says what GET would send, compression included.
    let head = app
        .client
        .head(app.url("/api/articles"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(head.headers().get("content-encoding").unwrap(), "gzip");
    assert!(head.bytes().await.unwrap().is_empty());
    // The web app's pages are compressed the same way.
    let (status, headers, body) = fetch(&app, "/", &[("accept-encoding", "gzip")]).await;
    assert_eq!(
        (status, header(&headers, "content-encoding")),
        (200, Some("gzip"))
    );
    assert!(String::from_utf8(decode(Some("gzip"), &body))
        .unwrap()
        .contains("Article number 7"));
}

async fn small_bodies_go_out_as_they_are(app: TestApp) {
    let (status, headers, body) =
        fetch(&app, "/api/tags", &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-encoding"), None);
    assert_eq!(body, br#"{"tags":[]}"#);
    assert_eq!(header(&headers, "content-length"), Some("11"));
    assert!(
        header(&headers, "vary").is_some_and(|v| v.contains("accept-encoding")),
        "a larger answer would be compressed, so caches must know: {headers:?}"
    );
}

async fn a_repeat_read_with_the_etag_gets_304_until_the_body_changes(app: TestApp) {
    let jake = a_full_list(&app).await;
    let (status, headers, body) = fetch(&app, "/api/articles", &[]).await;
    assert_eq!(status, 200);
    let tag = header(&headers, "etag").expect("an ETag").to_owned();
    assert!(tag.starts_with("W/\""), "weak: {tag}");
    assert_eq!(header(&headers, "cache-control"), Some("no-cache"));

    for (name, value) in [
        ("if-none-match", tag.as_str()),
        ("if-none-match", &format!(r#""other", {tag}"#)),
        ("if-none-match", "*"),
    ] {
        let (status, revalidated, body) = fetch(
            &app,
            "/api/articles",
            &[(name, value), ("accept-encoding", "gzip")],
        )
        .await;
        assert_eq!(status, 304, "{value}");
        assert!(body.is_empty(), "no body with a 304");
        assert_eq!(header(&revalidated, "etag"), Some(tag.as_str()));
        assert_eq!(header(&revalidated, "cache-control"), Some("no-cache"));
        assert_eq!(header(&revalidated, "content-encoding"), None);
    }
    // The same tag whatever the encoding: it names the body, not its bytes
    // on the wire.
    let (_, compressed, _) = fetch(&app, "/api/articles", &[("accept-encoding", "br")]).await;
    assert_eq!(header(&compressed, "etag"), Some(tag.as_str()));
    let (status, _, _) = fetch(&app, "/api/articles", &[("if-none-match", r#"W/"stale""#)]).await;
    assert_eq!(status, 200);

    app.create_article(&jake, "One more", &[]).await;
    let (status, changed, newer) =
        fetch(&app, "/api/articles", &[("if-none-match", tag.as_str())]).await;
    assert_eq!(status, 200, "the list changed");
    assert_ne!(header(&changed, "etag"), Some(tag.as_str()));
    assert_ne!(newer, body);
}

async fn viewers_who_see_different_bodies_get_different_tags(app: TestApp) {
    let jake = app.register("jake").await;
    let amy = app.register("amy").await;
    let slug = app.create_article(&jake, "Liked by one", &[]).await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    app.favorite(&amy, &slug).await;
    let path = format!("/api/articles/{slug}");
    let as_user = |token: &str| format!("Token {token}");
    let (_, for_amy, amy_body) =
        fetch(&app, &path, &[("authorization", &as_user(&amy.token))]).await;
    let (_, for_jake, _) = fetch(&app, &path, &[("authorization", &as_user(&jake.token))]).await;
    let (_, for_anyone, _) = fetch(&app, &path, &[]).await;
    let amy_tag = header(&for_amy, "etag").unwrap();
    assert_ne!(
        Some(amy_tag),
        header(&for_jake, "etag"),
        "favorited differs"
    );
    assert_eq!(
        header(&for_jake, "etag"),
        header(&for_anyone, "etag"),
        "the same body, the same tag"
    );
    assert!(String::from_utf8(amy_body)
        .unwrap()
        .contains(r#""favorited":true"#));
    // What depends on the token is never for shared caches.
    assert_eq!(header(&for_amy, "cache-control"), Some("private, no-cache"));
    assert_eq!(header(&for_anyone, "cache-control"), Some("no-cache"));
    let (status, _, _) = fetch(
        &app,
        &path,
        &[
            ("authorization", &as_user(&jake.token)),
            ("if-none-match", amy_tag),
        ],
    )
    .await;
    assert_eq!(status, 200, "amy's tag does not match jake's body");
}

async fn only_successful_json_reads_carry_an_etag(app: TestApp) {
    let jake = app.register("jake").await;
    let created = app
        .client
        .post(app.url("/api/articles"))
        .header("authorization", format!("Token {}", jake.token))
        .json(&serde_json::json!({"article": {"title": "T", "description": "d", "body": "b"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert!(created.headers().get("etag").is_none(), "not on writes");
    let (status, missing, _) = fetch(&app, "/api/articles/no-such-article", &[]).await;
    assert_eq!(status, 404);
    assert_eq!(header(&missing, "etag"), None, "not on errors");
    assert_eq!(header(&missing, "cache-control"), Some("no-cache"));
    let (status, page, _) = fetch(&app, "/", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&page, "etag"), None, "pages carry their own policy");
    let (_, head, body) = {
        let resp = app.client.head(app.url("/api/tags")).send().await.unwrap();
        (
            resp.status(),
            resp.headers().clone(),
            resp.bytes().await.unwrap(),
        )
    };
    assert!(body.is_empty());
    let (_, get, _) = fetch(&app, "/api/tags", &[]).await;
    assert_eq!(
        header(&head, "etag"),
        header(&get, "etag"),
        "HEAD tags like GET"
    );
}

async fn the_contract_is_served_as_built(app: TestApp) {
    let (status, headers, body) =
        fetch(&app, "/api/openapi.json", &[("accept-encoding", "gzip")]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert_eq!(
        header(&headers, "content-encoding"),
        Some("gzip"),
        "84 KB of JSON"
    );
    let document = decode(Some("gzip"), &body);
    assert_eq!(document, include_bytes!("../../api/openapi.json"));
    let document: Value = serde_json::from_slice(&document).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let tag = header(&headers, "etag").expect("revalidated like any read");
    let (status, _, _) = fetch(&app, "/api/openapi.json", &[("if-none-match", tag)]).await;
    assert_eq!(status, 304);
}

/// Three times the 2 MiB limit's half: a body a browser sends whole.
const OVERSIZED: usize = 3 * 1024 * 1024;

/// A client that writes its whole body without waiting for `100 Continue`
/// (browsers, Python's urllib, most libraries) must read the 413, every
/// time: the server reads and drops the rest of the body before it
/// answers, so the connection is not reset under the answer.
async fn a_body_over_the_limit_sent_whole_gets_a_complete_413_every_time(app: TestApp) {
    let body = vec![b'x'; OVERSIZED];
    for attempt in 1..=20 {
        let answer = raw_exchange(
            app.addr,
            "POST /api/articles HTTP/1.1\r\nContent-Type: application/json",
            &body,
        )
        .await
        .unwrap_or_else(|e| panic!("attempt {attempt}: {e}"));
        assert_eq!(answer.status, 413, "attempt {attempt}: {}", answer.head);
        let error: Value = serde_json::from_slice(&answer.body)
            .unwrap_or_else(|e| panic!("attempt {attempt}: {e}: {}", answer.text()));
        assert_eq!(
            error["errors"]["body"][0], "request body is larger than 2097152 bytes",
            "attempt {attempt}"
        );
    }
}

/// A client that does wait for `100 Continue` (curl) is told 413 at once,
/// and never asked for the body it announced.
async fn a_client_waiting_for_100_continue_gets_413_without_sending_its_body(app: TestApp) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /api/users HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {OVERSIZED}\r\nExpect: 100-continue\r\n\r\n",
        app.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut answer),
    )
    .await;
    assert!(read.is_ok(), "the connection was closed after the answer");
    let answer = parse_raw_response(&answer).expect("a whole answer");
    assert_eq!(answer.status, 413, "no 100 Continue first: {}", answer.head);
}

http_tests!(
    a_body_over_the_limit_sent_whole_gets_a_complete_413_every_time,
    a_client_waiting_for_100_continue_gets_413_without_sending_its_body,
    the_contract_is_served_as_built,
    large_bodies_are_compressed_as_the_client_prefers,
    small_bodies_go_out_as_they_are,
    a_repeat_read_with_the_etag_gets_304_until_the_body_changes,
    viewers_who_see_different_bodies_get_different_tags,
    only_successful_json_reads_carry_an_etag,
);
