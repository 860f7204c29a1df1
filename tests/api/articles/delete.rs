//! Deleting articles: the author only, and what goes with them.

use serde_json::Value;

use super::{article_count, World};
use crate::helpers::*;

async fn the_author_deletes_an_article_with_204_and_it_is_gone(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut world = World::default();
    let doomed = world.create(&app, &alice, "Doomed", &["gone"]).await;
    let kept = world.create(&app, &bob, "Kept", &["stays"]).await;
    world.favorite(&app, &bob, &doomed).await;

    let resp = app
        .delete(&format!("/api/articles/{doomed}"), Some(&alice.token))
        .await;
    assert_eq!(resp.status, 204, "{:?}", resp.body);
    assert_eq!(resp.body, Value::Null, "a 204 has an empty body");
    app.get(&format!("/api/articles/{doomed}"), None)
        .await
        .assert_error(404, "article not found", "GET after delete");
    app.delete(&format!("/api/articles/{doomed}"), Some(&alice.token))
        .await
        .assert_error(404, "article not found", "deleting twice");
    world
        .expect_list(
            &app,
            "/api/articles",
            Some(&bob),
            &[&kept],
            1,
            "after delete",
        )
        .await;
    world
        .expect_list(&app, "/api/articles", None, &[&kept], 1, "after delete")
        .await;
    world
        .expect_list(
            &app,
            "/api/articles?favorited=bob",
            Some(&bob),
            &[],
            0,
            "its favorites are gone",
        )
        .await;
}

async fn deleting_someone_elses_article_is_403_and_keeps_it(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.create_article(&alice, "Mine", &[]).await;
    app.create_article(&bob, "Yours", &[]).await;
    let cases = [
        (
            "another user",
            "/api/articles/mine",
            Some(bob.token.as_str()),
            403,
            "only the author",
        ),
        ("no token", "/api/articles/mine", None, 401, "needs a token"),
        (
            "no token, unknown slug",
            "/api/articles/nothing-here",
            None,
            401,
            "needs a token",
        ),
        (
            "garbage token",
            "/api/articles/mine",
            Some("garbage"),
            401,
            "token",
        ),
        (
            "unknown slug",
            "/api/articles/nothing-here",
            Some(bob.token.as_str()),
            404,
            "article not found",
        ),
    ];
    for (context, path, token, status, needle) in cases {
        app.delete(path, token)
            .await
            .assert_error(status, needle, context);
    }
    let still = app.get("/api/articles/mine", None).await;
    assert_eq!(still.status, 200, "{:?}", still.body);
    assert_eq!(still.body["article"]["author"]["username"], "alice");
    assert_eq!(article_count(&app).await, 2);
}

http_tests!(
    the_author_deletes_an_article_with_204_and_it_is_gone,
    deleting_someone_elses_article_is_403_and_keeps_it,
);
