//! Creating articles: the stored fields, the limits, validation and the token it needs.

use reqwest::Method;
use serde_json::{json, Value};

use super::{article_body, article_count, send_json_raw, tampered};
use crate::helpers::*;

async fn creating_an_article_returns_201_with_slug_ordered_tags_author_and_timestamps(
    app: TestApp,
) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.follow(&bob, &alice).await;
    let resp = app
        .post(
            "/api/articles",
            Some(&alice.token),
            json!({"article": {
                "title": "How to Train Your Dragon",
                "description": "Ever wonder how?",
                "body": "You have to believe.\n\nReally.",
                "tagList": ["dragons", "  training ", "dragons", "Dragons", "training"],
            }}),
        )
        .await;
    assert_eq!(resp.status, 201, "{:?}", resp.body);
    let article = &resp.body["article"];
    assert_eq!(article["slug"], "how-to-train-your-dragon");
    assert_eq!(article["title"], "How to Train Your Dragon");
    assert_eq!(article["description"], "Ever wonder how?");
    assert_eq!(article["body"], "You have to believe.\n\nReally.");
    assert_eq!(
        article["tagList"],
        json!(["Dragons", "dragons", "training"]),
        "trimmed, repeats dropped, case kept, sorted by code point"
    );
    assert_eq!(
        article["author"],
        json!({"username": "alice", "bio": "", "image": "", "following": false})
    );
    assert_timestamp(&article["createdAt"]);
    assert_timestamp(&article["updatedAt"]);
    assert_eq!(
        article["createdAt"], article["updatedAt"],
        "a new article was never updated"
    );
    assert_eq!(article["favorited"], false);
    assert_eq!(article["favoritesCount"], 0);

    let anonymous = app
        .get("/api/articles/how-to-train-your-dragon", None)
        .await;
    assert_eq!(anonymous.status, 200, "{:?}", anonymous.body);
    assert_eq!(
        anonymous.body["article"], *article,
        "what was stored is what GET shows"
    );
    let follower = app
        .get("/api/articles/how-to-train-your-dragon", Some(&bob.token))
        .await;
    assert_eq!(
        follower.body["article"]["author"]["following"], true,
        "bob follows alice"
    );
    assert_eq!(follower.body["article"]["favorited"], false);
}

async fn creating_accepts_values_at_their_limits(app: TestApp) {
    let alice = app.register("alice").await;
    let sixteen: Vec<String> = (0..16).map(|i| format!("tag{i}")).collect();
    let sixteen: Vec<&str> = sixteen.iter().map(String::as_str).collect();
    let mut seventeen_with_a_repeat = sixteen.clone();
    seventeen_with_a_repeat.push("tag3");
    let cases = [
        (
            "title of 256 characters",
            json!({"title": "t".repeat(256), "description": "d", "body": "b"}),
            0,
        ),
        (
            "title of 256 two-byte characters",
            json!({"title": "é".repeat(256), "description": "d", "body": "b"}),
            0,
        ),
        (
            "description of 1024 characters",
            json!({"title": "d1024", "description": "d".repeat(1024), "body": "b"}),
            0,
        ),
        (
            "empty description",
            json!({"title": "empty description", "description": "", "body": "b"}),
            0,
        ),
        (
            "body of exactly 1 MiB",
            json!({"title": "big body", "description": "d", "body": "x".repeat(1024 * 1024)}),
            0,
        ),
        (
            "16 distinct tags",
            json!({"title": "t16", "description": "d", "body": "b", "tagList": sixteen}),
            16,
        ),
        (
            "17 tags of which 16 distinct",
            json!({"title": "t17", "description": "d", "body": "b", "tagList": seventeen_with_a_repeat}),
            16,
        ),
        (
            "tag of 64 characters",
            json!({"title": "tag64", "description": "d", "body": "b", "tagList": ["x".repeat(64)]}),
            1,
        ),
        (
            "tag of 64 two-byte characters",
            json!({"title": "tag64e", "description": "d", "body": "b", "tagList": ["é".repeat(64)]}),
            1,
        ),
        (
            "no tagList at all",
            json!({"title": "no tags", "description": "d", "body": "b"}),
            0,
        ),
        (
            "unknown fields are ignored",
            json!({"title": "extra", "description": "d", "body": "b", "colour": "blue"}),
            0,
        ),
    ];
    let total = cases.len() as i64;
    for (context, fields, tag_count) in cases {
        let resp = app
            .post(
                "/api/articles",
                Some(&alice.token),
                json!({"article": fields}),
            )
            .await;
        assert_eq!(resp.status, 201, "{context}: {:?}", resp.body);
        let article = &resp.body["article"];
        assert_eq!(article["title"], fields["title"], "{context}: title kept");
        assert_eq!(
            article["description"], fields["description"],
            "{context}: description kept"
        );
        assert_eq!(article["body"], fields["body"], "{context}: body kept");
        let tags = article["tagList"]
            .as_array()
            .unwrap_or_else(|| panic!("{context}: tagList is an array: {article}"));
        assert_eq!(tags.len(), tag_count, "{context}: tags");
    }
    assert_eq!(article_count(&app).await, total);
}

async fn creating_an_invalid_article_is_422_and_stores_nothing(app: TestApp) {
    let alice = app.register("alice").await;
    let seventeen: Vec<String> = (0..17).map(|i| format!("tag{i}")).collect();
    let wrap = |fields: Value| json!({"article": fields}).to_string();
    let cases = [
        (
            "blank title",
            wrap(json!({"title": " \t ", "description": "d", "body": "b"})),
            "title can't be blank",
        ),
        (
            "empty title",
            wrap(json!({"title": "", "description": "d", "body": "b"})),
            "title can't be blank",
        ),
        (
            "title of 257 characters",
            wrap(json!({"title": "t".repeat(257), "description": "d", "body": "b"})),
            "title is too long",
        ),
        (
            "title of 257 two-byte characters",
            wrap(json!({"title": "é".repeat(257), "description": "d", "body": "b"})),
            "title is too long",
        ),
        (
            "description of 1025 characters",
            wrap(json!({"title": "t", "description": "d".repeat(1025), "body": "b"})),
            "description is too long",
        ),
        (
            "blank body",
            wrap(json!({"title": "t", "description": "d", "body": " \n\t "})),
            "body can't be blank",
        ),
        (
            "body over 1 MiB",
            wrap(json!({"title": "t", "description": "d", "body": "x".repeat(1024 * 1024 + 1)})),
            "body is too long",
        ),
        (
            "missing title",
            wrap(json!({"description": "d", "body": "b"})),
            "title is missing",
        ),
        (
            "null title",
            wrap(json!({"title": null, "description": "d", "body": "b"})),
            "title is missing",
        ),
        (
            "missing description",
            wrap(json!({"title": "t", "body": "b"})),
            "description is missing",
        ),
        (
            "missing body",
            wrap(json!({"title": "t", "description": "d"})),
            "body is missing",
        ),
        (
            "17 distinct tags",
            wrap(json!({"title": "t", "description": "d", "body": "b", "tagList": seventeen})),
            "too many tags",
        ),
        (
            "tag of 65 characters",
            wrap(
                json!({"title": "t", "description": "d", "body": "b", "tagList": ["x".repeat(65)]}),
            ),
            "tagList entries are too long",
        ),
        (
            "blank tag",
            wrap(
                json!({"title": "t", "description": "d", "body": "b", "tagList": ["rust", "   "]}),
            ),
            "tagList entries can't be blank",
        ),
        (
            "tagList is not an array",
            wrap(json!({"title": "t", "description": "d", "body": "b", "tagList": "rust"})),
            "unexpected shape",
        ),
        (
            "article envelope missing",
            json!({"title": "t", "description": "d", "body": "b"}).to_string(),
            "article",
        ),
        (
            "malformed JSON",
            r#"{"article": {"title": "t", "description": "d", "body": "b",}"#.to_owned(),
            "not valid JSON",
        ),
        ("empty request body", String::new(), "empty"),
    ];
    for (context, raw, needle) in cases {
        let resp =
            send_json_raw(&app, Method::POST, "/api/articles", Some(&alice.token), raw).await;
        resp.assert_error(422, needle, context);
    }
    assert_eq!(
        article_count(&app).await,
        0,
        "no invalid article was stored"
    );
    let tags = app.get("/api/tags", None).await;
    assert_eq!(
        tags.body["tags"],
        json!([]),
        "no tag of an invalid article was stored"
    );
}

async fn creating_without_a_valid_token_is_401_whatever_the_body(app: TestApp) {
    let alice = app.register("alice").await;
    let valid = article_body("Anonymous", "d", "b", &[]).to_string();
    let cases = [
        ("no token, valid body", None, valid.clone(), "needs a token"),
        (
            "no token, invalid body",
            None,
            article_body("", "d", "", &[]).to_string(),
            "needs a token",
        ),
        (
            "no token, malformed JSON",
            None,
            "{not json".to_owned(),
            "needs a token",
        ),
        (
            "garbage token, valid body",
            Some("Token garbage".to_owned()),
            valid.clone(),
            "token is invalid",
        ),
        (
            "tampered token, valid body",
            Some(format!("Token {}", tampered(&alice.token))),
            valid.clone(),
            "token is invalid",
        ),
        (
            "unknown scheme",
            Some(format!("Basic {}", alice.token)),
            valid,
            "'Token <jwt>' or 'Bearer <jwt>'",
        ),
    ];
    for (context, authorization, raw, needle) in cases {
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(authorization) = &authorization {
            headers.push(("Authorization", authorization.as_str()));
        }
        let resp = app
            .send_raw(Method::POST, "/api/articles", &headers, raw)
            .await;
        resp.assert_error(401, needle, context);
        assert_eq!(
            resp.headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Token"),
            "{context}: WWW-Authenticate"
        );
    }
    assert_eq!(article_count(&app).await, 0, "nothing was created");
}

http_tests!(
    creating_an_article_returns_201_with_slug_ordered_tags_author_and_timestamps,
    creating_accepts_values_at_their_limits,
    creating_an_invalid_article_is_422_and_stores_nothing,
    creating_without_a_valid_token_is_401_whatever_the_body,
);
