//! Atom feeds: valid Atom (read back with a strict parser), absolute links
//! from the configured origin, the three lists, and conditional GET.

use atom_syndication::Feed;

use super::{fetch, write};
use crate::helpers::*;

const ORIGIN: &str = "https://blog.example.com";

async fn app_behind_a_gateway(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| {
        c.public_origin = Some(ORIGIN.into());
        c.public_base_path = "/conduit".into();
    })
    .await
}

/// The feed at `path`, parsed; its raw text too.
async fn feed(app: &TestApp, path: &str) -> (Feed, String) {
    // A forged Host must not leak into any link.
    let (status, headers, text) = fetch(app, path, &[("Host", "evil.example")]).await;
    assert_eq!(status, 200, "{path}: {text}");
    assert_eq!(
        headers["content-type"], "application/atom+xml; charset=utf-8",
        "{path}"
    );
    assert!(
        !text.contains("evil.example"),
        "{path}: links from Host:\n{text}"
    );
    let parsed = text
        .parse::<Feed>()
        .unwrap_or_else(|e| panic!("{path} is not Atom: {e}\n{text}"));
    (parsed, text)
}

fn entry_titles(feed: &Feed) -> Vec<&str> {
    feed.entries().iter().map(|e| e.title().as_str()).collect()
}

async fn feeds_are_atom_with_whole_entries_and_absolute_links(backend: Backend) {
    let app = app_behind_a_gateway(backend).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    write(&app, &alice, "First & <oldest>", "", "Plain.", &[]).await;
    let markdown = "Some *emphasis*, [a link](https://example.org/x).\n\n<script>alert(1)</script>";
    let rich = write(
        &app,
        &alice,
        "Rich body",
        "What it is about",
        markdown,
        &["rust", "web"],
    )
    .await;
    write(&app, &bob, "Bob's post", "By Bob", "Hello.", &["rust"]).await;

    let (blog, text) = feed(&app, "/atom.xml").await;
    assert_eq!(blog.id(), format!("{ORIGIN}/conduit/atom.xml"));
    assert!(blog
        .links()
        .iter()
        .any(|l| l.rel() == "self" && l.href() == blog.id()));
    assert!(blog
        .links()
        .iter()
        .any(|l| l.rel() == "alternate" && l.href() == format!("{ORIGIN}/conduit/")));
    assert_eq!(
        entry_titles(&blog),
        ["Bob's post", "Rich body", "First & <oldest>"]
    );
    assert_eq!(
        blog.updated(),
        blog.entries()[0].updated(),
        "the feed is as new as its newest entry"
    );

    let entry = &blog.entries()[1];
    let slug = rich["slug"].as_str().expect("slug");
    assert_eq!(
        entry.links()[0].href(),
        format!("{ORIGIN}/conduit/article/{slug}")
    );
    assert!(
        entry.id().starts_with("tag:blog.example.com,2026:article:"),
        "{}",
        entry.id()
    );
    assert_eq!(entry.authors()[0].name(), "alice");
    assert_eq!(
        entry.authors()[0].uri(),
        Some(format!("{ORIGIN}/conduit/profile/alice").as_str())
    );
    let terms: Vec<&str> = entry.categories().iter().map(|c| c.term()).collect();
    assert_eq!(terms, ["rust", "web"]);
    assert_eq!(
        entry.summary().map(|s| s.as_str()),
        Some("What it is about")
    );
    assert!(entry.published().is_some());
    let created = rich["createdAt"].as_str().expect("createdAt");
    assert!(
        text.contains(&format!("<published>{created}</published>")),
        "the article's own dates: {text}"
    );
    let content = entry.content().and_then(|c| c.value()).expect("content");
    assert_eq!(entry.content().and_then(|c| c.content_type()), Some("html"));
    assert!(content.contains("<em>emphasis</em>"), "{content}");
    assert!(
        content.contains("href=\"https://example.org/x\""),
        "{content}"
    );
    assert!(
        !content.contains("<script"),
        "sanitised like the page: {content}"
    );
    assert!(!text.contains("<script"), "{text}");
    let ids: std::collections::HashSet<&str> = blog.entries().iter().map(|e| e.id()).collect();
    assert_eq!(ids.len(), 3, "every entry has its own id");

    let (rust, _) = feed(&app, "/tag/rust/atom.xml").await;
    assert_eq!(entry_titles(&rust), ["Bob's post", "Rich body"]);
    assert_eq!(rust.id(), format!("{ORIGIN}/conduit/tag/rust/atom.xml"));
    let (by_alice, _) = feed(&app, "/profile/ALICE/atom.xml").await;
    assert_eq!(entry_titles(&by_alice), ["Rich body", "First & <oldest>"]);
    assert_eq!(by_alice.authors()[0].name(), "alice");
    let (unused, _) = feed(&app, "/tag/nothing%20here/atom.xml").await;
    assert!(
        unused.entries().is_empty(),
        "a tag without articles has an empty feed"
    );
    let (status, _, _) = fetch(&app, "/profile/nobody/atom.xml", &[]).await;
    assert_eq!(status, 404, "no such author");

    // The newest 20, no more.
    for i in 0..20 {
        write(&app, &bob, &format!("Filler {i}"), "", "x", &[]).await;
    }
    let (full, _) = feed(&app, "/atom.xml").await;
    assert_eq!(full.entries().len(), 20);
    assert_eq!(full.entries()[0].title().as_str(), "Filler 19");
}

async fn polling_readers_get_304_until_something_changes(backend: Backend) {
    let app = app_behind_a_gateway(backend).await;
    let alice = app.register("alice").await;
    let article = write(&app, &alice, "Polled", "", "Version one.", &[]).await;
    let slug = article["slug"].as_str().expect("slug").to_owned();

    let (status, headers, _) = fetch(&app, "/atom.xml", &[]).await;
    assert_eq!(status, 200);
    let etag = headers["etag"].to_str().expect("etag").to_owned();
    let modified = headers["last-modified"]
        .to_str()
        .expect("last-modified")
        .to_owned();
    assert!(modified.ends_with(" GMT"), "{modified}");

    let (status, headers, body) = fetch(&app, "/atom.xml", &[("If-None-Match", &etag)]).await;
    assert_eq!((status, body.as_str()), (304, ""), "same ETag");
    assert_eq!(headers["etag"].to_str().ok(), Some(etag.as_str()));
    let (status, _, _) = fetch(&app, "/atom.xml", &[("If-Modified-Since", &modified)]).await;
    assert_eq!(status, 304, "not modified since");
    let (status, _, _) = fetch(
        &app,
        "/atom.xml",
        &[("If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")],
    )
    .await;
    assert_eq!(status, 200, "modified since 1970");
    // If-None-Match decides when both come.
    let (status, _, _) = fetch(
        &app,
        "/atom.xml",
        &[
            ("If-None-Match", "W/\"other\""),
            ("If-Modified-Since", &modified),
        ],
    )
    .await;
    assert_eq!(status, 200, "another ETag wins over the date");

    let resp = app
        .put(
            &format!("/api/articles/{slug}"),
            Some(&alice.token),
            serde_json::json!({"article": {"body": "Version two."}}),
        )
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    let (status, headers, body) = fetch(&app, "/atom.xml", &[("If-None-Match", &etag)]).await;
    assert_eq!(status, 200, "the edit is news");
    assert!(body.contains("Version two."), "{body}");
    assert_ne!(headers["etag"].to_str().ok(), Some(etag.as_str()));
}

async fn pages_advertise_their_feeds(backend: Backend) {
    let app = app_behind_a_gateway(backend).await;
    let alice = app.register("alice").await;
    write(&app, &alice, "Tagged", "", "x", &["c++"]).await;
    let alternate = |href: &str| {
        format!(
            "<link rel=\"alternate\" type=\"application/atom+xml\" title=\"{{}}\" href=\"{href}\">"
        )
    };
    for (page, feeds) in [
        (
            "/",
            vec![("Conduit: the newest articles", "/conduit/atom.xml")],
        ),
        (
            "/?tag=c%2B%2B",
            vec![
                ("Conduit: the newest articles", "/conduit/atom.xml"),
                ("Articles tagged c++", "/conduit/tag/c%2B%2B/atom.xml"),
            ],
        ),
        (
            "/profile/alice",
            vec![("Articles by alice", "/conduit/profile/alice/atom.xml")],
        ),
    ] {
        let (status, _, html) = fetch(&app, page, &[]).await;
        assert_eq!(status, 200, "{page}");
        for (title, href) in feeds {
            let link = alternate(href).replace("{}", title);
            assert!(html.contains(&link), "{page} should carry {link}");
        }
    }
    let (_, _, tagged) = fetch(&app, "/tag/c%2B%2B/atom.xml", &[]).await;
    assert!(
        tagged.contains("<title>Tagged</title>"),
        "the advertised tag feed works: {tagged}"
    );
}

backend_tests!(
    feeds_are_atom_with_whole_entries_and_absolute_links,
    polling_readers_get_304_until_something_changes,
    pages_advertise_their_feeds,
);
