//! Slugs: suffixes for repeated titles, the reserved `feed`, transliteration.

use std::collections::HashSet;

use serde_json::json;

use crate::helpers::*;

async fn the_same_title_twice_gives_distinct_slugs_with_a_short_suffix(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let first = app.create_article(&alice, "Hello World", &[]).await;
    let second = app.create_article(&bob, "Hello World", &[]).await;
    let third = app.create_article(&alice, "hello, world!", &[]).await;
    assert_eq!(first["slug"], "hello-world");
    let mut seen = HashSet::new();
    seen.insert("hello-world".to_owned());
    for (which, article) in [("second", &second), ("third", &third)] {
        let slug = article["slug"].as_str().expect("slug");
        let suffix = slug
            .strip_prefix("hello-world-")
            .unwrap_or_else(|| panic!("{which}: {slug} does not extend hello-world"));
        assert!(
            (1..=8).contains(&suffix.len())
                && suffix
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "{which}: the suffix of {slug} is short, lowercase ASCII"
        );
        assert!(seen.insert(slug.to_owned()), "{which}: {slug} is distinct");
    }
    // Each slug leads to its own article.
    for (article, author) in [(&first, "alice"), (&second, "bob"), (&third, "alice")] {
        let slug = article["slug"].as_str().expect("slug");
        let got = app.get(&format!("/api/articles/{slug}"), None).await;
        assert_eq!(got.status, 200, "{slug}: {:?}", got.body);
        assert_eq!(got.body["article"]["title"], article["title"], "{slug}");
        assert_eq!(got.body["article"]["author"]["username"], author, "{slug}");
    }
    // A title change onto a taken slug gets a suffix too.
    let other = app.create_article(&alice, "Something Else", &[]).await;
    let other_slug = other["slug"].as_str().expect("slug");
    let resp = app
        .put(
            &format!("/api/articles/{other_slug}"),
            Some(&alice.token),
            json!({"article": {"title": "Hello World"}}),
        )
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    let renamed = resp.body["article"]["slug"].as_str().expect("slug");
    assert!(
        renamed.starts_with("hello-world-") && !seen.contains(renamed),
        "renamed onto a taken slug: {renamed}"
    );
    assert_eq!(
        app.get("/api/articles/hello-world", None).await.body["article"]["author"]["username"],
        "alice"
    );
}

async fn a_title_of_feed_never_gets_the_slug_feed(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.follow(&bob, &alice).await;
    let mut slugs = Vec::new();
    for title in ["Feed", "feed", " FEED! "] {
        let article = app.create_article(&alice, title, &[]).await;
        let slug = article["slug"].as_str().expect("slug").to_owned();
        assert!(
            slug.starts_with("feed-") && slug.len() > 5,
            "title {title:?} gave slug {slug}"
        );
        slugs.push(slug);
    }
    let plain = app.create_article(&alice, "Plain", &[]).await;
    let resp = app
        .put(
            "/api/articles/plain",
            Some(&alice.token),
            json!({"article": {"title": "Feed"}}),
        )
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    let renamed = resp.body["article"]["slug"]
        .as_str()
        .expect("slug")
        .to_owned();
    assert!(
        renamed.starts_with("feed-"),
        "renamed to Feed: {renamed} (was {})",
        plain["slug"]
    );
    slugs.push(renamed);
    for slug in &slugs {
        let got = app.get(&format!("/api/articles/{slug}"), None).await;
        assert_eq!(got.status, 200, "{slug}: {:?}", got.body);
    }
    // /articles/feed is still the feed: bob follows alice and sees all four.
    let feed = app.get("/api/articles/feed", Some(&bob.token)).await;
    assert_eq!(feed.status, 200, "{:?}", feed.body);
    assert_eq!(feed.body["articlesCount"], 4, "{:?}", feed.body);
    assert!(
        feed.body.get("article").is_none(),
        "the feed is not an article: {:?}",
        feed.body
    );
}

async fn non_ascii_titles_are_transliterated_in_slugs(app: TestApp) {
    let alice = app.register("alice").await;
    let cases = [
        ("Ünïcödé Çafé", "unicode-cafe"),
        ("Straße nach Köln", "strasse-nach-koln"),
        ("C++ & Rust: 2026", "c-rust-2026"),
    ];
    for (title, expected) in cases {
        let article = app.create_article(&alice, title, &[]).await;
        assert_eq!(article["slug"], expected, "title {title:?}");
        assert_eq!(article["title"], title, "the title itself is kept as given");
        let got = app.get(&format!("/api/articles/{expected}"), None).await;
        assert_eq!(got.status, 200, "{expected}: {:?}", got.body);
    }
    // A title with nothing to transliterate still gets a usable slug.
    for title in ["!!!", "😀😀"] {
        let article = app.create_article(&alice, title, &[]).await;
        let slug = article["slug"].as_str().expect("slug");
        assert!(
            !slug.is_empty()
                && !slug.starts_with('-')
                && !slug.ends_with('-')
                && slug
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "title {title:?} gave slug {slug:?}"
        );
        let got = app.get(&format!("/api/articles/{slug}"), None).await;
        assert_eq!(got.status, 200, "{slug}: {:?}", got.body);
    }
}

http_tests!(
    the_same_title_twice_gives_distinct_slugs_with_a_short_suffix,
    a_title_of_feed_never_gets_the_slug_feed,
    non_ascii_titles_are_transliterated_in_slugs,
);
