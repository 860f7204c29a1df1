//! Comments on an article: add, list, delete, and what happens to them when
//! their article goes.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// Adds a comment through the API and returns it (`comment` unwrapped).
async fn comment(app: &TestApp, user: &TestUser, slug: &str, body: &str) -> Value {
    let resp = app
        .post(
            &format!("/api/articles/{slug}/comments"),
            Some(&user.token),
            json!({"comment": {"body": body}}),
        )
        .await;
    assert_eq!(resp.status, 200, "commenting on {slug}: {:?}", resp.body);
    resp.body["comment"].clone()
}

fn id_of(comment: &Value) -> i64 {
    comment["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("comment id is an integer: {comment}"))
}

/// GETs the comments of `slug` as `viewer` and checks, in order, each one's
/// id, author and `following`.
async fn expect_comments(
    app: &TestApp,
    slug: &str,
    viewer: Option<&TestUser>,
    expected: &[(i64, &str, bool)],
    context: &str,
) {
    let resp = app
        .get(
            &format!("/api/articles/{slug}/comments"),
            viewer.map(|v| v.token.as_str()),
        )
        .await;
    let who = viewer.map_or("anonymous", |v| v.username.as_str());
    let context = format!("{context} (comments of {slug} as {who})");
    assert_eq!(resp.status, 200, "{context}: {:?}", resp.body);
    let comments = resp.body["comments"]
        .as_array()
        .unwrap_or_else(|| panic!("{context}: no comments array in {:?}", resp.body));
    let got: Vec<(i64, &str, bool)> = comments
        .iter()
        .map(|c| {
            (
                id_of(c),
                c["author"]["username"].as_str().unwrap_or("?"),
                c["author"]["following"]
                    .as_bool()
                    .unwrap_or_else(|| panic!("{context}: following in {c}")),
            )
        })
        .collect();
    assert_eq!(got, expected, "{context}: (id, author, following) in order");
    for c in comments {
        assert!(c["body"].is_string(), "{context}: body of {c}");
        assert_timestamp(&c["createdAt"]);
        assert_timestamp(&c["updatedAt"]);
        assert!(
            c["author"].get("email").is_none(),
            "{context}: a profile never has an email"
        );
    }
}

async fn send_json_raw(app: &TestApp, path: &str, token: Option<&str>, raw: String) -> Resp {
    let auth = token.map(|t| format!("Token {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth.as_str()));
    }
    app.send_raw(Method::POST, path, &headers, raw).await
}

async fn adding_a_comment_returns_it_with_id_author_and_timestamps(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.follow(&bob, &alice).await;
    app.create_article(&alice, "Commented", &[]).await;
    let resp = app
        .post(
            "/api/articles/commented/comments",
            Some(&bob.token),
            json!({"comment": {"body": "  Great read!\nThanks.  "}}),
        )
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    let c = &resp.body["comment"];
    assert!(c["id"].is_i64(), "id is an integer: {c}");
    assert_eq!(
        c["body"], "  Great read!\nThanks.  ",
        "the body is kept exactly as given"
    );
    assert_eq!(
        c["author"],
        json!({"username": "bob", "bio": "", "image": "", "following": false})
    );
    assert_timestamp(&c["createdAt"]);
    assert_timestamp(&c["updatedAt"]);
    assert_eq!(
        c["createdAt"], c["updatedAt"],
        "a new comment was never updated"
    );

    let second = comment(&app, &alice, "commented", "Thank you, Bob.").await;
    assert_ne!(id_of(&second), id_of(c), "ids are distinct");
    // bob follows alice, so he sees following=true on her comment.
    expect_comments(
        &app,
        "commented",
        Some(&bob),
        &[(id_of(c), "bob", false), (id_of(&second), "alice", true)],
        "after adding",
    )
    .await;
    let listed = app.get("/api/articles/commented/comments", None).await;
    assert_eq!(
        listed.body["comments"][0]["body"], c["body"],
        "the stored body"
    );
    assert_eq!(
        listed.body["comments"][0]["createdAt"], c["createdAt"],
        "the stored timestamp"
    );
}

async fn comments_are_listed_oldest_first_with_following_per_viewer(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let dave = app.register("dave").await;
    app.create_article(&alice, "First Article", &[]).await;
    app.create_article(&bob, "Second Article", &[]).await;
    let c1 = id_of(&comment(&app, &bob, "first-article", "one").await);
    let other = id_of(&comment(&app, &carol, "second-article", "elsewhere").await);
    let c2 = id_of(&comment(&app, &carol, "first-article", "two").await);
    let c3 = id_of(&comment(&app, &bob, "first-article", "three").await);
    let c4 = id_of(&comment(&app, &alice, "first-article", "four").await);
    app.follow(&dave, &bob).await;
    app.follow(&carol, &alice).await;
    app.follow(&carol, &bob).await;

    let cases = [
        (None, [false, false, false, false]),
        (Some(&dave), [true, false, true, false]),
        (Some(&carol), [true, false, true, true]),
        (Some(&alice), [false, false, false, false]),
        (Some(&bob), [false, false, false, false]),
    ];
    for (viewer, following) in cases {
        expect_comments(
            &app,
            "first-article",
            viewer,
            &[
                (c1, "bob", following[0]),
                (c2, "carol", following[1]),
                (c3, "bob", following[2]),
                (c4, "alice", following[3]),
            ],
            "oldest first",
        )
        .await;
        expect_comments(
            &app,
            "second-article",
            viewer,
            &[(other, "carol", false)],
            "only this article's comments",
        )
        .await;
    }
    let bodies = app.get("/api/articles/first-article/comments", None).await;
    let bodies: Vec<&str> = bodies.body["comments"]
        .as_array()
        .expect("comments")
        .iter()
        .map(|c| c["body"].as_str().expect("body"))
        .collect();
    assert_eq!(bodies, ["one", "two", "three", "four"]);
}

async fn invalid_comments_are_422_and_stored_nowhere(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.create_article(&alice, "Strict", &[]).await;
    app.create_article(&bob, "Other", &[]).await;
    let wrap = |body: Value| json!({"comment": {"body": body}}).to_string();
    let cases = [
        ("empty body", wrap(json!("")), "body can't be blank"),
        ("blank body", wrap(json!(" \n\t ")), "body can't be blank"),
        (
            "missing body",
            json!({"comment": {}}).to_string(),
            "body is missing",
        ),
        ("null body", wrap(Value::Null), "body is missing"),
        (
            "body of 65537 bytes",
            wrap(json!("x".repeat(65537))),
            "body is too long",
        ),
        (
            "body of 32769 characters but 65537 bytes",
            wrap(json!(format!("{}x", "é".repeat(32768)))),
            "body is too long",
        ),
        ("body is a number", wrap(json!(5)), "unexpected shape"),
        (
            "comment envelope missing",
            json!({"body": "hi"}).to_string(),
            "comment",
        ),
        (
            "malformed JSON",
            r#"{"comment": {"body": "hi"}"#.to_owned(),
            "not valid JSON",
        ),
        ("empty request body", String::new(), "empty"),
    ];
    for (context, raw, needle) in cases {
        let resp =
            send_json_raw(&app, "/api/articles/strict/comments", Some(&bob.token), raw).await;
        resp.assert_error(422, needle, context);
    }
    expect_comments(&app, "strict", None, &[], "nothing stored").await;
    expect_comments(&app, "other", Some(&alice), &[], "nothing stored").await;
}

async fn a_comment_of_exactly_64_kib_is_accepted(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.create_article(&alice, "Long Comments", &[]).await;
    let cases = [
        ("65536 one-byte characters", "x".repeat(65536)),
        ("32768 two-byte characters", "é".repeat(32768)),
        ("a single character", "x".to_owned()),
    ];
    let mut expected = Vec::new();
    for (context, body) in cases {
        let c = comment(&app, &bob, "long-comments", &body).await;
        assert_eq!(
            c["body"].as_str().map(str::len),
            Some(body.len()),
            "{context}: body kept"
        );
        assert_eq!(c["body"], body.as_str(), "{context}: body kept exactly");
        expected.push((id_of(&c), "bob", false));
    }
    expect_comments(&app, "long-comments", Some(&alice), &expected, "all stored").await;
}

async fn commenting_on_an_unknown_article_is_404_even_with_an_invalid_body(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.create_article(&alice, "Exists", &[]).await;
    let cases = [
        (
            "valid body",
            json!({"comment": {"body": "hello"}}).to_string(),
        ),
        ("blank body", json!({"comment": {"body": "  "}}).to_string()),
        ("missing body", json!({"comment": {}}).to_string()),
        (
            "body over 64 KiB",
            json!({"comment": {"body": "x".repeat(65537)}}).to_string(),
        ),
        ("malformed JSON", "{oops".to_owned()),
        ("empty request body", String::new()),
    ];
    for (context, raw) in cases {
        send_json_raw(
            &app,
            "/api/articles/no-such-article/comments",
            Some(&bob.token),
            raw,
        )
        .await
        .assert_error(404, "article not found", context);
    }
    app.get("/api/articles/no-such-article/comments", None)
        .await
        .assert_error(
            404,
            "article not found",
            "listing comments of an unknown article",
        );
    app.get("/api/articles/no-such-article/comments", Some(&bob.token))
        .await
        .assert_error(
            404,
            "article not found",
            "listing comments of an unknown article, signed in",
        );
    expect_comments(&app, "exists", None, &[], "the known article got nothing").await;
}

async fn adding_a_comment_without_a_valid_token_is_401(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.create_article(&alice, "Guarded", &[]).await;
    let valid = json!({"comment": {"body": "hello"}}).to_string();
    let cases = [
        (
            "no token",
            None,
            "/api/articles/guarded/comments",
            valid.clone(),
            "needs a token",
        ),
        (
            "no token, blank body",
            None,
            "/api/articles/guarded/comments",
            json!({"comment": {"body": ""}}).to_string(),
            "needs a token",
        ),
        (
            "no token, unknown article",
            None,
            "/api/articles/nope/comments",
            valid.clone(),
            "needs a token",
        ),
        (
            "garbage token",
            Some("Token garbage".to_owned()),
            "/api/articles/guarded/comments",
            valid.clone(),
            "token is invalid",
        ),
        (
            "unknown scheme",
            Some(format!("Basic {}", bob.token)),
            "/api/articles/guarded/comments",
            valid,
            "'Token <jwt>' or 'Bearer <jwt>'",
        ),
    ];
    for (context, authorization, path, raw, needle) in cases {
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(authorization) = &authorization {
            headers.push(("Authorization", authorization.as_str()));
        }
        let resp = app.send_raw(Method::POST, path, &headers, raw).await;
        resp.assert_error(401, needle, context);
        assert!(
            resp.headers.contains_key("www-authenticate"),
            "{context}: WWW-Authenticate"
        );
    }
    // A bad token on the list is 401 too, never an anonymous list.
    app.get("/api/articles/guarded/comments", Some("garbage"))
        .await
        .assert_error(401, "token", "listing with a garbage token");
    expect_comments(&app, "guarded", Some(&bob), &[], "nothing stored").await;
}

async fn the_comment_author_deletes_with_204_and_it_leaves_the_list(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.create_article(&alice, "Talk", &[]).await;
    app.follow(&alice, &bob).await;
    let keep = id_of(&comment(&app, &alice, "talk", "stays").await);
    let gone = id_of(&comment(&app, &bob, "talk", "goes").await);
    let also = id_of(&comment(&app, &bob, "talk", "stays too").await);

    let resp = app
        .delete(
            &format!("/api/articles/talk/comments/{gone}"),
            Some(&bob.token),
        )
        .await;
    assert_eq!(resp.status, 204, "{:?}", resp.body);
    assert_eq!(resp.body, Value::Null, "a 204 has an empty body");
    expect_comments(
        &app,
        "talk",
        Some(&alice),
        &[(keep, "alice", false), (also, "bob", true)],
        "after delete",
    )
    .await;
    expect_comments(
        &app,
        "talk",
        None,
        &[(keep, "alice", false), (also, "bob", false)],
        "after delete",
    )
    .await;
    app.delete(
        &format!("/api/articles/talk/comments/{gone}"),
        Some(&bob.token),
    )
    .await
    .assert_error(404, "comment not found", "deleting twice");
}

async fn deleting_someone_elses_comment_is_403_and_keeps_it(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    app.create_article(&alice, "Hers", &[]).await;
    app.create_article(&bob, "His", &[]).await;
    let bobs = id_of(&comment(&app, &bob, "hers", "bob was here").await);
    let path = format!("/api/articles/hers/comments/{bobs}");
    let cases = [
        (
            "the article's author",
            Some(alice.token.as_str()),
            403,
            "only the author",
        ),
        (
            "a third user",
            Some(carol.token.as_str()),
            403,
            "only the author",
        ),
        ("no token", None, 401, "needs a token"),
        ("garbage token", Some("garbage"), 401, "token"),
    ];
    for (context, token, status, needle) in cases {
        app.delete(&path, token)
            .await
            .assert_error(status, needle, context);
    }
    for viewer in [None, Some(&alice)] {
        expect_comments(&app, "hers", viewer, &[(bobs, "bob", false)], "still there").await;
    }
}

async fn deleting_a_comment_by_a_bad_id_is_404(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.create_article(&alice, "Here", &[]).await;
    app.create_article(&bob, "There", &[]).await;
    let here = id_of(&comment(&app, &bob, "here", "on here").await);
    let there = id_of(&comment(&app, &bob, "there", "on there").await);
    let cases = [
        (
            "non-numeric id",
            "/api/articles/here/comments/abc".to_owned(),
            "comment not found",
        ),
        (
            "fractional id",
            "/api/articles/here/comments/1.5".to_owned(),
            "comment not found",
        ),
        (
            "overflowing id",
            "/api/articles/here/comments/99999999999999999999".to_owned(),
            "comment not found",
        ),
        (
            "negative id",
            "/api/articles/here/comments/-1".to_owned(),
            "comment not found",
        ),
        (
            "unknown id",
            format!("/api/articles/here/comments/{}", here + there + 1000),
            "comment not found",
        ),
        (
            "a comment of another article",
            format!("/api/articles/here/comments/{there}"),
            "comment not found",
        ),
        (
            "unknown article",
            format!("/api/articles/nowhere/comments/{here}"),
            "article not found",
        ),
    ];
    for (context, path, needle) in cases {
        app.delete(&path, Some(&bob.token))
            .await
            .assert_error(404, needle, context);
    }
    // Both comments survive, each on its own article.
    expect_comments(&app, "here", Some(&alice), &[(here, "bob", false)], "kept").await;
    expect_comments(&app, "there", None, &[(there, "bob", false)], "kept").await;
}

async fn deleting_the_article_makes_its_comments_404(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.create_article(&alice, "Short Lived", &[]).await;
    app.create_article(&bob, "Long Lived", &[]).await;
    let doomed = id_of(&comment(&app, &bob, "short-lived", "soon gone").await);
    let kept = id_of(&comment(&app, &alice, "long-lived", "still here").await);
    let resp = app
        .delete("/api/articles/short-lived", Some(&alice.token))
        .await;
    assert_eq!(resp.status, 204, "{:?}", resp.body);

    app.get("/api/articles/short-lived/comments", None)
        .await
        .assert_error(404, "article not found", "listing");
    app.post(
        "/api/articles/short-lived/comments",
        Some(&bob.token),
        json!({"comment": {"body": "too late"}}),
    )
    .await
    .assert_error(404, "article not found", "adding");
    app.delete(
        &format!("/api/articles/short-lived/comments/{doomed}"),
        Some(&bob.token),
    )
    .await
    .assert_error(404, "article not found", "deleting");
    expect_comments(
        &app,
        "long-lived",
        Some(&bob),
        &[(kept, "alice", false)],
        "other article untouched",
    )
    .await;
}

http_tests!(
    adding_a_comment_returns_it_with_id_author_and_timestamps,
    comments_are_listed_oldest_first_with_following_per_viewer,
    invalid_comments_are_422_and_stored_nowhere,
    a_comment_of_exactly_64_kib_is_accepted,
    commenting_on_an_unknown_article_is_404_even_with_an_invalid_body,
    adding_a_comment_without_a_valid_token_is_401,
    the_comment_author_deletes_with_204_and_it_leaves_the_list,
    deleting_someone_elses_comment_is_403_and_keeps_it,
    deleting_a_comment_by_a_bad_id_is_404,
    deleting_the_article_makes_its_comments_404,
);
