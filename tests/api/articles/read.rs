//! Reading one article: its body, the viewer's flags, 404s and sorted tag lists.

use serde_json::{json, Value};

use super::World;
use crate::helpers::*;

async fn getting_an_article_shows_its_body_and_the_viewers_flags(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let mut world = World::default();
    let slug = world.create(&app, &alice, "Single", &["one"]).await;
    let other = world.create(&app, &bob, "Other", &[]).await;
    world.favorite(&app, &bob, &slug).await;
    world.follow(&app, &bob, &alice).await;
    world.favorite(&app, &carol, &other).await;

    for viewer in [None, Some(&alice), Some(&bob), Some(&carol)] {
        let who = viewer.map_or("anonymous", |v| v.username.as_str());
        for s in [&slug, &other] {
            let resp = app
                .get(
                    &format!("/api/articles/{s}"),
                    viewer.map(|v| v.token.as_str()),
                )
                .await;
            assert_eq!(resp.status, 200, "{s} as {who}: {:?}", resp.body);
            let article = &resp.body["article"];
            assert!(
                article["body"].is_string(),
                "{s} as {who}: a single article has its body"
            );
            world.check_item(article, viewer, &format!("{s} as {who}"));
        }
    }
    let resp = app.get("/api/articles/single", None).await;
    assert_eq!(resp.body["article"]["body"], "The body of Single.");
    assert_eq!(resp.body["article"]["tagList"], json!(["one"]));
}

async fn getting_an_unknown_article_is_404(app: TestApp) {
    let alice = app.register("alice").await;
    app.create_article(&alice, "Known", &[]).await;
    let cases = [
        (
            "unknown slug, anonymous",
            "/api/articles/no-such-article",
            None,
        ),
        (
            "unknown slug, signed in",
            "/api/articles/no-such-article",
            Some(alice.token.as_str()),
        ),
        ("a slug's prefix", "/api/articles/know", None),
    ];
    for (context, path, token) in cases {
        app.get(path, token)
            .await
            .assert_error(404, "article not found", context);
    }
}

/// The official RealWorld Postman collection creates `["training",
/// "dragons"]` and expects `["dragons", "training"]` back: every response
/// lists tags sorted by code point, whatever order was given.
async fn tag_lists_are_sorted_by_code_point_in_every_response(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.follow(&bob, &alice).await;
    let created = app
        .create_article(&alice, "How to train your dragon", &["training", "dragons"])
        .await;
    let slug = created["slug"].as_str().expect("slug").to_owned();
    assert_eq!(created["tagList"], json!(["dragons", "training"]), "create");
    app.favorite(&bob, &slug).await;

    let single = format!("/api/articles/{slug}");
    let lists = [
        "/api/articles",
        "/api/articles?tag=dragons",
        "/api/articles?author=alice",
        "/api/articles?favorited=bob",
        "/api/articles/feed",
    ];
    let expect_everywhere = |expected: Value, when: &'static str| {
        let app = &app;
        let bob = &bob;
        let single = single.clone();
        async move {
            let resp = app.get(&single, None).await;
            assert_eq!(resp.body["article"]["tagList"], expected, "{when}: single");
            for path in lists {
                let resp = app.get(path, Some(&bob.token)).await;
                assert_eq!(resp.status, 200, "{when}: {path}: {:?}", resp.body);
                assert_eq!(
                    resp.body["articles"][0]["tagList"], expected,
                    "{when}: {path}"
                );
            }
        }
    };
    expect_everywhere(json!(["dragons", "training"]), "after create").await;

    // Upper case sorts before lower case, and non-ASCII after both.
    let resp = app
        .put(
            &single,
            Some(&alice.token),
            json!({"article": {"tagList": ["zebra", "éclair", "Zebra", "dragons", "zebra"]}}),
        )
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    let sorted = json!(["Zebra", "dragons", "zebra", "éclair"]);
    assert_eq!(resp.body["article"]["tagList"], sorted, "update");
    expect_everywhere(sorted, "after update").await;
}

http_tests!(
    getting_an_article_shows_its_body_and_the_viewers_flags,
    getting_an_unknown_article_is_404,
    tag_lists_are_sorted_by_code_point_in_every_response,
);
