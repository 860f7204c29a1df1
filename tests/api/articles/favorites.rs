//! Favoriting and unfavoriting: idempotence, counts and errors.

use reqwest::Method;
use serde_json::json;

use super::World;
use crate::helpers::*;

async fn favorite_and_unfavorite_are_idempotent_with_exact_counts(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let mut world = World::default();
    let popular = world.create(&app, &alice, "Popular", &[]).await;
    let quiet = world.create(&app, &alice, "Quiet", &[]).await;
    let path = format!("/api/articles/{popular}/favorite");

    // (who, method, expected favorited for them, expected count after)
    let steps = [
        (&bob, Method::POST, true, 1),
        (&bob, Method::POST, true, 1),
        (&carol, Method::POST, true, 2),
        (&carol, Method::POST, true, 2),
        (&bob, Method::DELETE, false, 1),
        (&bob, Method::DELETE, false, 1),
        (&alice, Method::DELETE, false, 1),
        (&alice, Method::POST, true, 2),
        (&alice, Method::DELETE, false, 1),
    ];
    for (i, (user, method, favorited, count)) in steps.into_iter().enumerate() {
        let context = format!("step {i}: {method} by {}", user.username);
        let resp = app
            .send(
                method.clone(),
                &path,
                Some(&user.token),
                (method == Method::POST).then(|| json!({})),
            )
            .await;
        assert_eq!(resp.status, 200, "{context}: {:?}", resp.body);
        let article = &resp.body["article"];
        assert_eq!(article["slug"], popular.as_str(), "{context}");
        assert_eq!(article["favorited"], favorited, "{context}: favorited");
        assert_eq!(
            article["favoritesCount"], count,
            "{context}: favoritesCount"
        );
    }
    // Only carol still favorites it.
    world
        .fans
        .entry(popular.clone())
        .or_default()
        .insert(carol.username.clone());
    for viewer in [None, Some(&alice), Some(&bob), Some(&carol)] {
        let who = viewer.map_or("anonymous", |v| v.username.as_str());
        let resp = app
            .get(
                &format!("/api/articles/{popular}"),
                viewer.map(|v| v.token.as_str()),
            )
            .await;
        world.check_item(&resp.body["article"], viewer, &format!("GET as {who}"));
        world
            .expect_list(
                &app,
                "/api/articles",
                viewer,
                &[&quiet, &popular],
                2,
                "after favoriting",
            )
            .await;
        world
            .expect_list(
                &app,
                "/api/articles?favorited=carol",
                viewer,
                &[&popular],
                1,
                "carol's favorites",
            )
            .await;
        world
            .expect_list(
                &app,
                "/api/articles?favorited=bob",
                viewer,
                &[],
                0,
                "bob unfavorited",
            )
            .await;
    }
}

async fn favoriting_an_unknown_article_is_404_and_without_a_token_401(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut world = World::default();
    let a1 = world.create(&app, &alice, "Target", &[]).await;
    let b1 = world.create(&app, &bob, "Other", &[]).await;
    let target = format!("/api/articles/{a1}/favorite");
    let unknown = "/api/articles/no-such-article/favorite";
    let cases = [
        (
            "favorite unknown slug",
            Method::POST,
            unknown,
            Some(bob.token.as_str()),
            404,
            "article not found",
        ),
        (
            "unfavorite unknown slug",
            Method::DELETE,
            unknown,
            Some(bob.token.as_str()),
            404,
            "article not found",
        ),
        (
            "favorite without token",
            Method::POST,
            target.as_str(),
            None,
            401,
            "needs a token",
        ),
        (
            "unfavorite without token",
            Method::DELETE,
            target.as_str(),
            None,
            401,
            "needs a token",
        ),
        (
            "favorite unknown slug without token",
            Method::POST,
            unknown,
            None,
            401,
            "needs a token",
        ),
        (
            "favorite with garbage token",
            Method::POST,
            target.as_str(),
            Some("garbage"),
            401,
            "token",
        ),
    ];
    for (context, method, path, token, status, needle) in cases {
        let body = (method == Method::POST).then(|| json!({}));
        let resp = app.send(method, path, token, body).await;
        resp.assert_error(status, needle, context);
        if status == 401 {
            assert!(
                resp.headers.contains_key("www-authenticate"),
                "{context}: WWW-Authenticate"
            );
        }
    }
    for viewer in [None, Some(&bob)] {
        world
            .expect_list(
                &app,
                "/api/articles",
                viewer,
                &[&b1, &a1],
                2,
                "no favorite was recorded",
            )
            .await;
    }
}

http_tests!(
    favorite_and_unfavorite_are_idempotent_with_exact_counts,
    favoriting_an_unknown_article_is_404_and_without_a_token_401,
);
