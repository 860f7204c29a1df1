//! The article list: order, flags per viewer, paging and filters.

use serde_json::json;

use super::World;
use crate::helpers::*;

async fn the_list_is_newest_first_without_bodies_with_flags_per_viewer(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let mut world = World::default();
    let a1 = world.create(&app, &alice, "Alice One", &["x"]).await;
    let b1 = world.create(&app, &bob, "Bob One", &["y", "x"]).await;
    let a2 = world.create(&app, &alice, "Alice Two", &[]).await;
    world.follow(&app, &carol, &alice).await;
    world.favorite(&app, &carol, &b1).await;
    world.favorite(&app, &bob, &a1).await;
    world.favorite(&app, &carol, &a1).await;

    for viewer in [None, Some(&alice), Some(&bob), Some(&carol)] {
        world
            .expect_list(
                &app,
                "/api/articles",
                viewer,
                &[&a2, &b1, &a1],
                3,
                "global list",
            )
            .await;
    }
    // Spot-check the model against literal expectations for carol.
    let resp = app.get("/api/articles", Some(&carol.token)).await;
    let flags: Vec<(bool, bool, i64)> = resp.body["articles"]
        .as_array()
        .expect("articles")
        .iter()
        .map(|a| {
            (
                a["favorited"].as_bool().expect("favorited"),
                a["author"]["following"].as_bool().expect("following"),
                a["favoritesCount"].as_i64().expect("favoritesCount"),
            )
        })
        .collect();
    assert_eq!(
        flags,
        [(false, true, 0), (true, false, 1), (true, true, 2)],
        "carol's view"
    );
    assert_eq!(
        resp.body["articles"][1]["tagList"],
        json!(["x", "y"]),
        "tags sorted in lists"
    );
}

async fn the_list_pages_with_limit_and_offset_and_counts_the_total(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut world = World::default();
    let mut slugs = Vec::new();
    for i in 0..5 {
        let author = if i % 2 == 0 { &alice } else { &bob };
        slugs.push(world.create(&app, author, &format!("Paged {i}"), &[]).await);
    }
    world.follow(&app, &bob, &alice).await;
    world.favorite(&app, &alice, &slugs[3]).await;
    world.favorite(&app, &bob, &slugs[0]).await;
    slugs.reverse(); // newest first
    let s: Vec<&str> = slugs.iter().map(String::as_str).collect();
    let cases = [
        ("first page", "/api/articles?limit=2", &s[0..2]),
        ("second page", "/api/articles?limit=2&offset=2", &s[2..4]),
        (
            "last, partial page",
            "/api/articles?limit=2&offset=4",
            &s[4..5],
        ),
        ("offset only", "/api/articles?offset=3", &s[3..5]),
        ("limit 1", "/api/articles?limit=1&offset=1", &s[1..2]),
        ("offset at the end", "/api/articles?offset=5", &s[5..5]),
        (
            "offset past the end",
            "/api/articles?limit=2&offset=50",
            &s[5..5],
        ),
        ("defaults", "/api/articles", &s[..]),
        (
            "explicit defaults",
            "/api/articles?limit=20&offset=0",
            &s[..],
        ),
        ("a limit of exactly 100", "/api/articles?limit=100", &s[..]),
    ];
    for (context, path, expected) in cases {
        for viewer in [None, Some(&alice), Some(&bob)] {
            world
                .expect_list(&app, path, viewer, expected, 5, context)
                .await;
        }
    }
    // Paging applies after filtering, and the count is the filtered total.
    world
        .expect_list(
            &app,
            "/api/articles?author=alice&limit=1&offset=1",
            Some(&bob),
            &[s[2]],
            3,
            "filtered page",
        )
        .await;
}

async fn a_limit_above_100_is_capped_to_100(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let mut world = World::default();
    let mut slugs = Vec::new();
    for i in 0..101 {
        let author = if i % 3 == 0 { &bob } else { &alice };
        slugs.push(world.create(&app, author, &format!("Bulk {i}"), &[]).await);
    }
    world.follow(&app, &carol, &bob).await;
    world.favorite(&app, &carol, &slugs[100]).await;
    world.favorite(&app, &alice, &slugs[50]).await;
    world.favorite(&app, &carol, &slugs[50]).await;
    slugs.reverse();
    let s: Vec<&str> = slugs.iter().map(String::as_str).collect();
    for viewer in [None, Some(&carol)] {
        world
            .expect_list(
                &app,
                "/api/articles?limit=101",
                viewer,
                &s[..100],
                101,
                "limit 101",
            )
            .await;
        world
            .expect_list(
                &app,
                "/api/articles?limit=100000",
                viewer,
                &s[..100],
                101,
                "limit 100000",
            )
            .await;
        world
            .expect_list(
                &app,
                "/api/articles",
                viewer,
                &s[..20],
                101,
                "default limit 20",
            )
            .await;
        world
            .expect_list(
                &app,
                "/api/articles?limit=500&offset=100",
                viewer,
                &s[100..],
                101,
                "the rest",
            )
            .await;
    }
}

async fn invalid_limit_or_offset_is_422(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.create_article(&alice, "One", &[]).await;
    app.create_article(&bob, "Two", &[]).await;
    app.follow(&alice, &bob).await;
    let cases = [
        ("zero limit", "limit=0", "limit must be at least 1"),
        ("negative limit", "limit=-1", "limit must be at least 1"),
        (
            "non-numeric limit",
            "limit=ten",
            "limit must be a whole number",
        ),
        (
            "fractional limit",
            "limit=1.5",
            "limit must be a whole number",
        ),
        (
            "overflowing limit",
            "limit=99999999999999999999",
            "limit must be a whole number",
        ),
        ("negative offset", "offset=-1", "offset must be 0 or more"),
        (
            "non-numeric offset",
            "offset=two",
            "offset must be a whole number",
        ),
        (
            "overflowing offset",
            "offset=99999999999999999999",
            "offset must be a whole number",
        ),
        (
            "bad limit with a good offset",
            "limit=0&offset=1",
            "limit must be at least 1",
        ),
        (
            "bad limit with a filter",
            "author=alice&limit=-5",
            "limit must be at least 1",
        ),
    ];
    for (context, query, needle) in cases {
        app.get(&format!("/api/articles?{query}"), None)
            .await
            .assert_error(422, needle, &format!("{context} on /articles"));
        app.get(&format!("/api/articles?{query}"), Some(&alice.token))
            .await
            .assert_error(422, needle, &format!("{context} on /articles, signed in"));
        app.get(&format!("/api/articles/feed?{query}"), Some(&alice.token))
            .await
            .assert_error(422, needle, &format!("{context} on /articles/feed"));
    }
}

async fn filters_by_tag_author_and_favorited_combine(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("Carol").await;
    let mut world = World::default();
    let a1 = world
        .create(&app, &alice, "Alice Rust Web", &["rust", "web"])
        .await;
    let b1 = world.create(&app, &bob, "Bob Rust", &["rust"]).await;
    let a2 = world.create(&app, &alice, "Alice Go", &["go"]).await;
    let b2 = world.create(&app, &bob, "Bob Web", &["web", "Rust"]).await;
    world.favorite(&app, &carol, &a1).await;
    world.favorite(&app, &carol, &b1).await;
    world.favorite(&app, &bob, &a2).await;
    world.favorite(&app, &bob, &a1).await;
    world.follow(&app, &carol, &bob).await;
    world.follow(&app, &bob, &alice).await;

    let cases: [(&str, &str, Vec<&str>); 14] = [
        ("tag", "tag=rust", vec![&b1, &a1]),
        ("tag is case-sensitive", "tag=Rust", vec![&b2]),
        ("author", "author=alice", vec![&a2, &a1]),
        ("author in another case", "author=ALICE", vec![&a2, &a1]),
        ("favorited", "favorited=Carol", vec![&b1, &a1]),
        (
            "favorited in another case",
            "favorited=carol",
            vec![&b1, &a1],
        ),
        ("favorited by bob", "favorited=BOB", vec![&a2, &a1]),
        ("tag and author", "tag=rust&author=alice", vec![&a1]),
        (
            "tag and author, nothing in common",
            "tag=go&author=bob",
            vec![],
        ),
        (
            "author and favorited",
            "author=bob&favorited=carol",
            vec![&b1],
        ),
        ("tag and favorited", "tag=web&favorited=carol", vec![&a1]),
        (
            "all three",
            "tag=rust&author=Bob&favorited=CAROL",
            vec![&b1],
        ),
        (
            "all three, nothing in common",
            "tag=web&author=bob&favorited=carol",
            vec![],
        ),
        ("percent-encoded", "author=%61lice&tag=w%65b", vec![&a1]),
    ];
    for (context, query, expected) in cases {
        let path = format!("/api/articles?{query}");
        for viewer in [None, Some(&carol), Some(&bob)] {
            world
                .expect_list(
                    &app,
                    &path,
                    viewer,
                    &expected,
                    expected.len() as i64,
                    context,
                )
                .await;
        }
    }
}

async fn unknown_filter_values_give_an_empty_list_not_404(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut world = World::default();
    let a1 = world.create(&app, &alice, "First", &["rust"]).await;
    let b1 = world.create(&app, &bob, "Second", &["go"]).await;
    world.favorite(&app, &alice, &b1).await;
    let cases = [
        ("unknown tag", "tag=cobol"),
        ("unknown author", "author=nobody"),
        ("unknown favoriting user", "favorited=nobody"),
        ("a user who favorited nothing", "favorited=bob"),
        (
            "an author who wrote nothing matching",
            "author=alice&tag=go",
        ),
        ("unknown everything", "tag=x&author=y&favorited=z"),
    ];
    for (context, query) in cases {
        for viewer in [None, Some(&alice)] {
            world
                .expect_list(
                    &app,
                    &format!("/api/articles?{query}"),
                    viewer,
                    &[],
                    0,
                    context,
                )
                .await;
        }
    }
    world
        .expect_list(
            &app,
            "/api/articles",
            Some(&alice),
            &[&b1, &a1],
            2,
            "unfiltered",
        )
        .await;
}

http_tests!(
    the_list_is_newest_first_without_bodies_with_flags_per_viewer,
    the_list_pages_with_limit_and_offset_and_counts_the_total,
    a_limit_above_100_is_capped_to_100,
    invalid_limit_or_offset_is_422,
    filters_by_tag_author_and_favorited_combine,
    unknown_filter_values_give_an_empty_list_not_404,
);
