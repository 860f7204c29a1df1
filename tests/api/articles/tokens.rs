//! Tokens on article routes: bad ones are 401 everywhere, Bearer works like Token.

use reqwest::Method;

use super::{article_body, tampered, World};
use crate::helpers::*;

async fn a_bad_token_is_401_even_where_a_token_is_optional(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.create_article(&alice, "Public", &[]).await;
    app.create_article(&bob, "Also Public", &[]).await;
    let tampered = format!("Token {}", tampered(&alice.token));
    let no_space = format!("Token{}", alice.token);
    let basic = format!("Basic {}", alice.token);
    let scheme = "'Token <jwt>' or 'Bearer <jwt>'";
    let headers = [
        ("Token garbage", "Token garbage", "token is invalid"),
        ("Bearer garbage", "Bearer garbage", "token is invalid"),
        ("tampered signature", tampered.as_str(), "token is invalid"),
        ("scheme without a token", "Token", scheme),
        ("no scheme", alice.token.as_str(), scheme),
        ("scheme glued to the token", no_space.as_str(), scheme),
        ("Basic scheme", basic.as_str(), scheme),
    ];
    let paths = [
        "/api/articles",
        "/api/articles?author=alice",
        "/api/articles/public",
    ];
    for (context, authorization, needle) in headers {
        for path in paths {
            let resp = app
                .send_raw(Method::GET, path, &[("Authorization", authorization)], "")
                .await;
            let context = format!("{context} on GET {path}");
            resp.assert_error(401, needle, &context);
            assert!(
                resp.body.get("articles").is_none(),
                "{context}: not an anonymous list"
            );
            assert_eq!(
                resp.headers
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok()),
                Some("Token"),
                "{context}: WWW-Authenticate"
            );
        }
    }
    // Without the header the same requests are anonymous and succeed.
    for path in paths {
        let resp = app.get(path, None).await;
        assert_eq!(resp.status, 200, "{path} anonymously: {:?}", resp.body);
    }
}

async fn a_bearer_token_is_accepted_like_a_token(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut world = World::default();
    let a1 = world.create(&app, &alice, "Alice Writes", &[]).await;
    world.favorite(&app, &bob, &a1).await;
    world.follow(&app, &bob, &alice).await;

    let bearer = format!("Bearer {}", bob.token);
    let json_headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    let created = app
        .send_raw(
            Method::POST,
            "/api/articles",
            &json_headers,
            article_body("Bob via Bearer", "d", "b", &[]).to_string(),
        )
        .await;
    assert_eq!(
        created.status, 201,
        "create with Bearer: {:?}",
        created.body
    );
    assert_eq!(
        created.body["article"]["author"]["username"], "bob",
        "the Bearer token identifies bob"
    );
    let b1 = created.body["article"]["slug"]
        .as_str()
        .expect("slug")
        .to_owned();
    world.authors.insert(b1.clone(), "bob".to_owned());

    let list = app
        .send_raw(
            Method::GET,
            "/api/articles",
            &[("Authorization", bearer.as_str())],
            "",
        )
        .await;
    assert_eq!(list.status, 200, "{:?}", list.body);
    assert_eq!(list.body["articlesCount"], 2);
    for item in list.body["articles"].as_array().expect("articles") {
        world.check_item(
            item,
            Some(&bob),
            "list with Bearer is bob's view, not anonymous",
        );
    }
    assert_eq!(
        list.body["articles"][1]["favorited"], true,
        "bob's favorite shows with Bearer"
    );
    assert_eq!(
        list.body["articles"][1]["author"]["following"], true,
        "bob's follow shows with Bearer"
    );

    let feed = app
        .send_raw(
            Method::GET,
            "/api/articles/feed",
            &[("Authorization", bearer.as_str())],
            "",
        )
        .await;
    assert_eq!(feed.status, 200, "feed with Bearer: {:?}", feed.body);
    assert_eq!(feed.body["articles"][0]["slug"], a1.as_str());
}

http_tests!(
    a_bad_token_is_401_even_where_a_token_is_optional,
    a_bearer_token_is_accepted_like_a_token,
);
