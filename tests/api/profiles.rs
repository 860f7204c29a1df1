//! Profiles and following.

use serde_json::json;

use crate::helpers::*;

async fn profiles_show_following_per_viewer_and_never_the_email(app: TestApp) {
    let jake = app.register("jake").await;
    let anna = app.register("anna").await;
    let bob = app.register("bob").await;
    app.follow(&anna, &jake).await;

    let anonymous = app.get("/api/profiles/jake", None).await;
    assert_eq!(anonymous.status, 200);
    assert_eq!(
        anonymous.body,
        json!({"profile": {"username": "jake", "bio": "", "image": "", "following": false}}),
        "exactly the four fields, no email"
    );
    let by_anna = app.get("/api/profiles/jake", Some(&anna.token)).await;
    assert_eq!(
        by_anna.body["profile"]["following"], true,
        "anna follows jake"
    );
    let by_bob = app.get("/api/profiles/jake", Some(&bob.token)).await;
    assert_eq!(by_bob.body["profile"]["following"], false, "bob does not");
    let reverse = app.get("/api/profiles/anna", Some(&jake.token)).await;
    assert_eq!(
        reverse.body["profile"]["following"], false,
        "following is one-way"
    );
}

async fn profiles_are_found_ignoring_case_and_unknown_ones_are_404(app: TestApp) {
    app.register("Jake.Smith").await;
    let resp = app.get("/api/profiles/jake.smith", None).await;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.body["profile"]["username"], "Jake.Smith",
        "stored spelling returned"
    );
    let encoded = app.get("/api/profiles/JAKE%2ESMITH", None).await;
    assert_eq!(encoded.status, 200, "percent-encoded segment");
    app.get("/api/profiles/nobody", None).await.assert_error(
        404,
        "profile not found",
        "unknown user",
    );
}

async fn follow_and_unfollow_are_idempotent(app: TestApp) {
    let jake = app.register("jake").await;
    let anna = app.register("anna").await;
    for round in 0..2 {
        let resp = app
            .post("/api/profiles/JAKE/follow", Some(&anna.token), json!({}))
            .await;
        assert_eq!(resp.status, 200, "follow round {round}");
        assert_eq!(resp.body["profile"]["following"], true);
        assert_eq!(resp.body["profile"]["username"], "jake");
    }
    let seen = app.get("/api/profiles/jake", Some(&anna.token)).await;
    assert_eq!(seen.body["profile"]["following"], true);
    for round in 0..2 {
        let resp = app
            .delete("/api/profiles/jake/follow", Some(&anna.token))
            .await;
        assert_eq!(resp.status, 200, "unfollow round {round}");
        assert_eq!(resp.body["profile"]["following"], false);
    }
    let seen = app.get("/api/profiles/jake", Some(&anna.token)).await;
    assert_eq!(seen.body["profile"]["following"], false);
    let _ = jake;
}

async fn following_needs_a_token_a_known_user_and_someone_else(app: TestApp) {
    let jake = app.register("jake").await;
    app.post("/api/profiles/jake/follow", None, json!({}))
        .await
        .assert_error(401, "token", "follow without token");
    app.delete("/api/profiles/jake/follow", None)
        .await
        .assert_error(401, "token", "unfollow without token");
    app.post("/api/profiles/nobody/follow", Some(&jake.token), json!({}))
        .await
        .assert_error(404, "profile not found", "follow unknown");
    app.delete("/api/profiles/nobody/follow", Some(&jake.token))
        .await
        .assert_error(404, "profile not found", "unfollow unknown");
    app.post("/api/profiles/Jake/follow", Some(&jake.token), json!({}))
        .await
        .assert_error(422, "yourself", "follow yourself");
}

http_tests!(
    profiles_show_following_per_viewer_and_never_the_email,
    profiles_are_found_ignoring_case_and_unknown_ones_are_404,
    follow_and_unfollow_are_idempotent,
    following_needs_a_token_a_known_user_and_someone_else,
);
