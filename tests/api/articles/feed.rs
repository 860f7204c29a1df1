//! The feed: followed authors only, newest first, with a token.

use super::{tampered, World};
use crate::helpers::*;

async fn the_feed_requires_a_token(app: TestApp) {
    let alice = app.register("alice").await;
    let cases = [
        ("no token", None),
        ("garbage token", Some("garbage".to_owned())),
        ("tampered token", Some(tampered(&alice.token))),
    ];
    for (context, token) in cases {
        let resp = app.get("/api/articles/feed", token.as_deref()).await;
        resp.assert_error(401, "token", context);
        assert!(
            resp.headers.contains_key("www-authenticate"),
            "{context}: WWW-Authenticate"
        );
    }
}

async fn the_feed_lists_only_followed_authors_newest_first(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let dave = app.register("dave").await;
    let mut world = World::default();
    let a1 = world.create(&app, &alice, "Alice One", &[]).await;
    let b1 = world.create(&app, &bob, "Bob One", &[]).await;
    let c1 = world.create(&app, &carol, "Carol One", &[]).await;
    let a2 = world.create(&app, &alice, "Alice Two", &[]).await;
    let b2 = world.create(&app, &bob, "Bob Two", &[]).await;
    let d1 = world.create(&app, &dave, "Dave Own", &[]).await;
    world.follow(&app, &dave, &alice).await;
    world.follow(&app, &dave, &bob).await;
    world.follow(&app, &carol, &dave).await;
    world.favorite(&app, &dave, &b1).await;
    world.favorite(&app, &carol, &b1).await;
    world.favorite(&app, &carol, &a2).await;

    world
        .expect_list(
            &app,
            "/api/articles/feed",
            Some(&dave),
            &[&b2, &a2, &b1, &a1],
            4,
            "dave's feed",
        )
        .await;
    let feed = app.get("/api/articles/feed", Some(&dave.token)).await;
    for item in feed.body["articles"].as_array().expect("articles") {
        assert_eq!(
            item["author"]["following"], true,
            "every feed item is by a followed author: {item}"
        );
    }
    world
        .expect_list(
            &app,
            "/api/articles/feed?limit=2&offset=1",
            Some(&dave),
            &[&a2, &b1],
            4,
            "dave's feed, paged",
        )
        .await;
    world
        .expect_list(
            &app,
            "/api/articles/feed?offset=9",
            Some(&dave),
            &[],
            4,
            "dave's feed, past the end",
        )
        .await;
    world
        .expect_list(
            &app,
            "/api/articles/feed",
            Some(&carol),
            &[&d1],
            1,
            "carol's feed",
        )
        .await;
    // The global list still shows everything, with the same flags.
    world
        .expect_list(
            &app,
            "/api/articles",
            Some(&dave),
            &[&d1, &b2, &a2, &c1, &b1, &a1],
            6,
            "global",
        )
        .await;
    world
        .expect_list(
            &app,
            "/api/articles",
            None,
            &[&d1, &b2, &a2, &c1, &b1, &a1],
            6,
            "global",
        )
        .await;

    // Unfollowing takes an author's articles out of the feed.
    let resp = app
        .delete("/api/profiles/bob/follow", Some(&dave.token))
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    world.follows.remove(&("dave".to_owned(), "bob".to_owned()));
    world
        .expect_list(
            &app,
            "/api/articles/feed",
            Some(&dave),
            &[&a2, &a1],
            2,
            "after unfollowing bob",
        )
        .await;
}

async fn the_feed_is_empty_for_a_user_who_follows_nobody(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut world = World::default();
    let a1 = world.create(&app, &alice, "Alice One", &[]).await;
    let b1 = world.create(&app, &bob, "Bob One", &[]).await;
    world.favorite(&app, &alice, &b1).await;
    world.follow(&app, &bob, &alice).await;
    world
        .expect_list(
            &app,
            "/api/articles/feed",
            Some(&alice),
            &[],
            0,
            "alice follows nobody",
        )
        .await;
    world
        .expect_list(
            &app,
            "/api/articles/feed",
            Some(&bob),
            &[&a1],
            1,
            "bob follows alice",
        )
        .await;
    world
        .expect_list(
            &app,
            "/api/articles",
            Some(&alice),
            &[&b1, &a1],
            2,
            "the global list is not empty",
        )
        .await;
    world
        .expect_list(
            &app,
            "/api/articles",
            None,
            &[&b1, &a1],
            2,
            "the global list is not empty",
        )
        .await;
}

http_tests!(
    the_feed_requires_a_token,
    the_feed_lists_only_followed_authors_newest_first,
    the_feed_is_empty_for_a_user_who_follows_nobody,
);
