//! Updating articles: renames move the slug, and errors come in policy order.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::article_count;
use crate::helpers::*;

async fn the_author_updates_title_and_body_and_the_slug_follows_the_title(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let created = app
        .create_article(&alice, "Old Title", &["keep", "these"])
        .await;
    assert_eq!(created["slug"], "old-title");
    app.favorite(&bob, "old-title").await;
    tokio::time::sleep(Duration::from_millis(20)).await;

    let resp = app
        .put(
            "/api/articles/old-title",
            Some(&alice.token),
            json!({"article": {"title": "New Title"}}),
        )
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    let updated = &resp.body["article"];
    assert_eq!(updated["slug"], "new-title");
    assert_eq!(updated["title"], "New Title");
    assert_eq!(updated["description"], created["description"], "unchanged");
    assert_eq!(updated["body"], created["body"], "unchanged");
    assert_eq!(updated["tagList"], json!(["keep", "these"]), "unchanged");
    assert_eq!(
        updated["createdAt"], created["createdAt"],
        "createdAt never changes"
    );
    assert_timestamp(&updated["updatedAt"]);
    let (created_at, updated_at) = (
        updated["createdAt"].as_str().expect("createdAt"),
        updated["updatedAt"].as_str().expect("updatedAt"),
    );
    assert!(
        updated_at > created_at,
        "updatedAt {updated_at} moves past createdAt {created_at}"
    );
    assert_eq!(updated["favoritesCount"], 1, "favorites survive the rename");
    assert_eq!(updated["favorited"], false, "alice did not favorite it");

    app.get("/api/articles/old-title", None).await.assert_error(
        404,
        "article not found",
        "the old slug is gone",
    );
    let got = app.get("/api/articles/new-title", Some(&bob.token)).await;
    assert_eq!(got.status, 200, "{:?}", got.body);
    assert_eq!(
        got.body["article"]["favorited"], true,
        "bob's favorite survives the rename"
    );

    let resp = app
        .put(
            "/api/articles/new-title",
            Some(&alice.token),
            json!({"article": {"body": "A brand new body.", "description": "Fresh"}}),
        )
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    assert_eq!(
        resp.body["article"]["slug"], "new-title",
        "no title change, same slug"
    );
    assert_eq!(resp.body["article"]["body"], "A brand new body.");
    assert_eq!(resp.body["article"]["description"], "Fresh");
    assert_eq!(resp.body["article"]["title"], "New Title");

    // Sending the same title again keeps the slug rather than suffixing it.
    let resp = app
        .put(
            "/api/articles/new-title",
            Some(&alice.token),
            json!({"article": {"title": "New Title"}}),
        )
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    assert_eq!(
        resp.body["article"]["slug"], "new-title",
        "the same title keeps its slug"
    );

    let got = app.get("/api/articles/new-title", None).await;
    assert_eq!(
        got.body["article"]["body"], "A brand new body.",
        "the change was stored"
    );
    assert_eq!(
        article_count(&app).await,
        1,
        "an update never creates an article"
    );
}

async fn update_errors_come_in_the_policy_order_and_change_nothing(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let before = app.create_article(&alice, "Guarded", &["safe"]).await;
    app.create_article(&bob, "Bobs Own", &[]).await;
    let valid = json!({"article": {"title": "Hijacked", "body": "pwned"}}).to_string();
    let blank = json!({"article": {"title": "  ", "body": ""}}).to_string();
    let malformed = r#"{"article": {"title": "#.to_owned();
    let empty = json!({"article": {}}).to_string();
    let bad = "garbage".to_owned();
    let cases = [
        (
            "no token, valid body",
            None,
            "guarded",
            valid.clone(),
            401,
            "needs a token",
        ),
        (
            "no token, unknown slug",
            None,
            "no-such-article",
            valid.clone(),
            401,
            "needs a token",
        ),
        (
            "no token, unknown slug, invalid body",
            None,
            "no-such-article",
            malformed.clone(),
            401,
            "needs a token",
        ),
        (
            "bad token, unknown slug",
            Some(&bad),
            "no-such-article",
            valid.clone(),
            401,
            "token",
        ),
        (
            "other user, valid body",
            Some(&bob.token),
            "guarded",
            valid.clone(),
            403,
            "only the author",
        ),
        (
            "other user, blank fields",
            Some(&bob.token),
            "guarded",
            blank.clone(),
            403,
            "only the author",
        ),
        (
            "other user, malformed JSON",
            Some(&bob.token),
            "guarded",
            malformed.clone(),
            403,
            "only the author",
        ),
        (
            "other user, no fields",
            Some(&bob.token),
            "guarded",
            empty.clone(),
            403,
            "only the author",
        ),
        (
            "author, unknown slug, valid body",
            Some(&alice.token),
            "no-such-article",
            valid.clone(),
            404,
            "article not found",
        ),
        (
            "author, unknown slug, blank fields",
            Some(&alice.token),
            "no-such-article",
            blank.clone(),
            404,
            "article not found",
        ),
        (
            "author, unknown slug, malformed JSON",
            Some(&alice.token),
            "no-such-article",
            malformed.clone(),
            404,
            "article not found",
        ),
        (
            "author, no fields",
            Some(&alice.token),
            "guarded",
            empty,
            422,
            "at least one of",
        ),
        (
            "author, blank title and body",
            Some(&alice.token),
            "guarded",
            blank,
            422,
            "can't be blank",
        ),
        (
            "author, malformed JSON",
            Some(&alice.token),
            "guarded",
            malformed,
            422,
            "not valid JSON",
        ),
        (
            "author, title of 257 characters",
            Some(&alice.token),
            "guarded",
            json!({"article": {"title": "t".repeat(257)}}).to_string(),
            422,
            "title is too long",
        ),
        (
            "author, 17 tags",
            Some(&alice.token),
            "guarded",
            json!({"article": {"tagList": (0..17).map(|i| format!("t{i}")).collect::<Vec<_>>()}})
                .to_string(),
            422,
            "too many tags",
        ),
    ];
    for (context, token, slug, raw, status, needle) in cases {
        let authorization = token.map(|t| format!("Token {t}"));
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(authorization) = &authorization {
            headers.push(("Authorization", authorization.as_str()));
        }
        let resp = app
            .send_raw(Method::PUT, &format!("/api/articles/{slug}"), &headers, raw)
            .await;
        resp.assert_error(status, needle, context);
        if status == 401 {
            assert!(
                resp.headers.contains_key("www-authenticate"),
                "{context}: WWW-Authenticate"
            );
        }
    }
    let after = app.get("/api/articles/guarded", None).await;
    assert_eq!(after.status, 200, "{:?}", after.body);
    assert_eq!(after.body["article"], before, "the article is unchanged");
    app.get("/api/articles/hijacked", None).await.assert_error(
        404,
        "article not found",
        "no hijacked slug",
    );
}

http_tests!(
    the_author_updates_title_and_body_and_the_slug_follows_the_title,
    update_errors_come_in_the_policy_order_and_change_nothing,
);
