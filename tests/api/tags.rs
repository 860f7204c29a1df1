//! `GET /api/tags`: the tags in use, most used first, then by name.

use serde_json::json;

use crate::helpers::*;

/// GETs the tags as `token`'s owner (or anonymously) and checks them.
async fn expect_tags(app: &TestApp, token: Option<&str>, expected: &[&str], context: &str) {
    let resp = app.get("/api/tags", token).await;
    assert_eq!(resp.status, 200, "{context}: {:?}", resp.body);
    assert_eq!(resp.body, json!({"tags": expected}), "{context}");
}

async fn tags_are_listed_most_used_first_then_by_name(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    // rust 3, async 2, web 2, go 1, zig 1: ties broken by name.
    app.create_article(&alice, "One", &["zig", "rust", "web"])
        .await;
    app.create_article(&bob, "Two", &["web", "rust"]).await;
    app.create_article(&alice, "Three", &["rust", "async", "go"])
        .await;
    app.create_article(&bob, "Four", &["async"]).await;
    let expected = ["rust", "async", "web", "go", "zig"];
    expect_tags(&app, None, &expected, "anonymous").await;
    expect_tags(&app, Some(&alice.token), &expected, "signed in").await;

    // A repeat inside one article counts once.
    app.create_article(&bob, "Five", &["zig", "zig", " zig "])
        .await;
    expect_tags(
        &app,
        None,
        &["rust", "async", "web", "zig", "go"],
        "zig now used twice",
    )
    .await;
}

async fn tags_disappear_when_their_last_article_is_deleted(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.create_article(&alice, "Both", &["rust", "web"]).await;
    app.create_article(&bob, "Rust Only", &["rust"]).await;
    app.create_article(&bob, "Untagged", &[]).await;
    expect_tags(&app, None, &["rust", "web"], "before").await;

    let resp = app.delete("/api/articles/both", Some(&alice.token)).await;
    assert_eq!(resp.status, 204, "{:?}", resp.body);
    expect_tags(&app, None, &["rust"], "web had only one article").await;

    let resp = app
        .delete("/api/articles/rust-only", Some(&bob.token))
        .await;
    assert_eq!(resp.status, 204, "{:?}", resp.body);
    expect_tags(&app, Some(&bob.token), &[], "no tagged article left").await;
}

async fn tags_are_empty_on_a_fresh_server(app: TestApp) {
    expect_tags(&app, None, &[], "fresh server").await;
    let alice = app.register("alice").await;
    app.create_article(&alice, "No Tags", &[]).await;
    expect_tags(&app, Some(&alice.token), &[], "an article without tags").await;
}

/// (slug, author, favoritesCount, favorited, following) of a list item.
type ItemFlags<'a> = (&'a str, &'a str, Option<i64>, Option<bool>, Option<bool>);

async fn tags_are_case_sensitive(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let both = app
        .create_article(&alice, "Both Cases", &["rust", "Rust"])
        .await;
    assert_eq!(
        both["tagList"],
        json!(["Rust", "rust"]),
        "both kept on one article"
    );
    app.create_article(&bob, "Lower", &["rust"]).await;
    app.favorite(&bob, "both-cases").await;
    app.follow(&bob, &alice).await;
    expect_tags(&app, None, &["rust", "Rust"], "rust used twice, Rust once").await;

    // The tag filter is case-sensitive too. (slug, author, favoritesCount,
    // favorited by bob, bob follows the author)
    let both_cases = ("both-cases", "alice", 1, true, true);
    let lower = ("lower", "bob", 0, false, false);
    let cases = [
        ("tag=Rust", vec![both_cases]),
        ("tag=rust", vec![lower, both_cases]),
        ("tag=RUST", vec![]),
    ];
    for (query, expected) in cases {
        for viewer in [None, Some(&bob)] {
            let who = if viewer.is_some() { "bob" } else { "anonymous" };
            let context = format!("GET /api/articles?{query} as {who}");
            let resp = app
                .get(
                    &format!("/api/articles?{query}"),
                    viewer.map(|v| v.token.as_str()),
                )
                .await;
            assert_eq!(resp.status, 200, "{context}: {:?}", resp.body);
            assert_eq!(
                resp.body["articlesCount"],
                expected.len(),
                "{context}: articlesCount"
            );
            let got: Vec<ItemFlags> = resp.body["articles"]
                .as_array()
                .unwrap_or_else(|| panic!("{context}: no articles in {:?}", resp.body))
                .iter()
                .map(|a| {
                    (
                        a["slug"].as_str().unwrap_or("?"),
                        a["author"]["username"].as_str().unwrap_or("?"),
                        a["favoritesCount"].as_i64(),
                        a["favorited"].as_bool(),
                        a["author"]["following"].as_bool(),
                    )
                })
                .collect();
            let want: Vec<ItemFlags> = expected
                .iter()
                .map(|&(slug, author, count, favorited, following)| {
                    let seen_by_bob = viewer.is_some();
                    (
                        slug,
                        author,
                        Some(count),
                        Some(favorited && seen_by_bob),
                        Some(following && seen_by_bob),
                    )
                })
                .collect();
            assert_eq!(
                got, want,
                "{context}: (slug, author, favoritesCount, favorited, following)"
            );
        }
    }
}

async fn a_bad_token_on_tags_is_401(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.create_article(&alice, "Tagged", &["rust"]).await;
    app.create_article(&bob, "Also Tagged", &["go"]).await;
    let resp = app.get("/api/tags", Some("garbage")).await;
    resp.assert_error(401, "token", "garbage token");
    assert!(resp.body.get("tags").is_none(), "not the anonymous answer");
}

http_tests!(
    tags_are_listed_most_used_first_then_by_name,
    tags_disappear_when_their_last_article_is_deleted,
    tags_are_empty_on_a_fresh_server,
    tags_are_case_sensitive,
    a_bad_token_on_tags_is_401,
);
