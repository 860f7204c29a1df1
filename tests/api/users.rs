//! Registration, login, the current user, tokens, and the cross-cutting
//! rules (body limit, error precedence, unknown routes).

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

fn user_body(username: &str, email: &str, password: &str) -> Value {
    json!({"user": {"username": username, "email": email, "password": password}})
}

async fn registration_returns_201_with_user_and_token_but_no_hash(app: TestApp) {
    let resp = app
        .post(
            "/api/users",
            None,
            user_body("jake", "Jake@Example.com", "jakejake"),
        )
        .await;
    assert_eq!(resp.status, 201, "{:?}", resp.body);
    let user = &resp.body["user"];
    assert_eq!(user["username"], "jake");
    assert_eq!(user["email"], "Jake@Example.com", "stored as given");
    assert_eq!(user["bio"], "", "bio is a string, empty when unset");
    assert_eq!(user["image"], "", "image is a string, empty when unset");
    assert!(user["token"]
        .as_str()
        .is_some_and(|t| t.split('.').count() == 3));
    let keys: Vec<&str> = user
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys.len(),
        5,
        "only email, token, username, bio, image: {keys:?}"
    );
    assert!(!resp.body.to_string().contains("scrypt"), "no hash leaks");
}

async fn registration_rejects_each_invalid_field(app: TestApp) {
    let long_name = "a".repeat(65);
    let long_email = format!("{}@example.com", "a".repeat(243));
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "blank username",
            user_body("  ", "a@b.c", "password1"),
            "username",
        ),
        (
            "username with a space",
            user_body("ja ke", "a@b.c", "password1"),
            "username",
        ),
        (
            "username with a slash",
            user_body("ja/ke", "a@b.c", "password1"),
            "username",
        ),
        (
            "username '.'",
            user_body(".", "a@b.c", "password1"),
            "username",
        ),
        (
            "username '..'",
            user_body("..", "a@b.c", "password1"),
            "username",
        ),
        (
            "username of 65",
            user_body(&long_name, "a@b.c", "password1"),
            "username",
        ),
        (
            "non-ASCII username",
            user_body("jäke", "a@b.c", "password1"),
            "username",
        ),
        (
            "email without @",
            user_body("jake", "jake.example.com", "password1"),
            "email",
        ),
        (
            "email without domain",
            user_body("jake", "jake@", "password1"),
            "email",
        ),
        (
            "email of 255",
            user_body("jake", &long_email, "password1"),
            "email",
        ),
        (
            "password of 7",
            user_body("jake", "a@b.c", "1234567"),
            "password",
        ),
        (
            "password of 7 after trimming",
            user_body("jake", "a@b.c", "  1234567  "),
            "password",
        ),
        (
            "password of 257",
            user_body("jake", "a@b.c", &"p".repeat(257)),
            "password",
        ),
        (
            "missing username",
            json!({"user": {"email": "a@b.c", "password": "password1"}}),
            "username",
        ),
        (
            "missing email",
            json!({"user": {"username": "jake", "password": "password1"}}),
            "email",
        ),
        (
            "missing password",
            json!({"user": {"username": "jake", "email": "a@b.c"}}),
            "password",
        ),
        (
            "no user envelope",
            json!({"username": "jake", "email": "a@b.c", "password": "password1"}),
            "user",
        ),
        (
            "username of the wrong type",
            json!({"user": {"username": 5, "email": "a@b.c", "password": "password1"}}),
            "username",
        ),
        ("a JSON array", json!([1, 2]), "shape"),
    ];
    for (context, body, needle) in cases {
        let resp = app.post("/api/users", None, body).await;
        resp.assert_error(422, needle, context);
    }
    for (context, raw) in [("malformed JSON", "{\"user\": "), ("empty body", "")] {
        let resp = app
            .send_raw(
                Method::POST,
                "/api/users",
                &[("content-type", "application/json")],
                raw,
            )
            .await;
        resp.assert_error(422, "request body", context);
    }
    let boundary = app
        .post(
            "/api/users",
            None,
            user_body(&long_name[..64], &long_email[1..], &"p".repeat(256)),
        )
        .await;
    assert_eq!(
        boundary.status, 201,
        "64-char username, 254-char email, 256-char password: {:?}",
        boundary.body
    );
}

async fn duplicate_usernames_and_emails_are_rejected_ignoring_case(app: TestApp) {
    app.register("jake").await;
    let same_name = app
        .post(
            "/api/users",
            None,
            user_body("JAKE", "other@example.com", "password1"),
        )
        .await;
    same_name.assert_error(
        422,
        "username has already been taken",
        "username in other case",
    );
    let same_email = app
        .post(
            "/api/users",
            None,
            user_body("other", "JAKE@EXAMPLE.COM", "password1"),
        )
        .await;
    same_email.assert_error(422, "email has already been taken", "email in other case");
}

async fn login_works_with_the_email_in_any_case(app: TestApp) {
    let jake = app.register("jake").await;
    let resp = app
        .post(
            "/api/users/login",
            None,
            json!({"user": {"email": "JAKE@example.COM", "password": jake.password}}),
        )
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    assert_eq!(resp.body["user"]["username"], "jake");
    let token = resp.body["user"]["token"].as_str().unwrap();
    assert_eq!(
        app.get("/api/user", Some(token)).await.status,
        200,
        "the login token works"
    );
}

async fn login_does_not_reveal_which_emails_exist(app: TestApp) {
    let jake = app.register("jake").await;
    let wrong_password = app
        .post(
            "/api/users/login",
            None,
            json!({"user": {"email": jake.email, "password": "not-the-password"}}),
        )
        .await;
    let unknown_email = app
        .post(
            "/api/users/login",
            None,
            json!({"user": {"email": "nobody@example.com", "password": "whatever1"}}),
        )
        .await;
    wrong_password.assert_error(401, "email or password is invalid", "wrong password");
    unknown_email.assert_error(401, "email or password is invalid", "unknown email");
    assert_eq!(wrong_password.body, unknown_email.body, "identical answers");
}

async fn login_without_fields_is_unprocessable(app: TestApp) {
    let cases = [
        (
            "no email",
            json!({"user": {"password": "password1"}}),
            "email",
        ),
        (
            "no password",
            json!({"user": {"email": "a@b.c"}}),
            "password",
        ),
        (
            "blank email",
            json!({"user": {"email": " ", "password": "password1"}}),
            "email",
        ),
        ("no envelope", json!({}), "user"),
    ];
    for (context, body, needle) in cases {
        app.post("/api/users/login", None, body)
            .await
            .assert_error(422, needle, context);
    }
}

async fn current_user_needs_a_valid_token(app: TestApp) {
    let jake = app.register("jake").await;
    let anonymous = app.get("/api/user", None).await;
    anonymous.assert_error(401, "token", "no token");
    assert_eq!(anonymous.headers["www-authenticate"], "Token");

    let ok = app.get("/api/user", Some(&jake.token)).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["user"]["email"], jake.email);
    assert_eq!(ok.body["user"]["token"], jake.token.as_str());

    let bearer = app
        .send_raw(
            Method::GET,
            "/api/user",
            &[("authorization", &format!("Bearer {}", jake.token))],
            "",
        )
        .await;
    assert_eq!(bearer.status, 200, "Bearer is accepted too");

    let mut tampered = jake.token.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    let cases = [
        ("unknown scheme", format!("Basic {}", jake.token)),
        ("no scheme", jake.token.clone()),
        ("garbage", "Token garbage".to_owned()),
        ("tampered signature", format!("Token {tampered}")),
        (
            "expired",
            format!("Token {}", forge_token(&app, 1, 1, -3600)),
        ),
        (
            "user that does not exist",
            format!("Token {}", forge_token(&app, 999, 1, 3600)),
        ),
    ];
    for (context, header) in cases {
        let resp = app
            .send_raw(Method::GET, "/api/user", &[("authorization", &header)], "")
            .await;
        resp.assert_error(401, "", context);
        assert_eq!(resp.headers["www-authenticate"], "Token", "{context}");
    }
}

/// Signs a token with the test secret, for user `sub`, credential version
/// `ver`, expiring `exp_in` seconds from now.
fn forge_token(app: &TestApp, sub: i64, ver: i64, exp_in: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = json!({"sub": sub.to_string(), "iat": now, "exp": now + exp_in, "ver": ver});
    let secret = app
        .config
        .secret
        .as_ref()
        .unwrap()
        .expose()
        .as_bytes()
        .to_vec();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&secret),
    )
    .unwrap()
}

async fn a_bad_token_is_refused_even_where_auth_is_optional(app: TestApp) {
    for path in ["/api/articles", "/api/tags", "/api/profiles/jake"] {
        let resp = app.get(path, Some("garbage")).await;
        resp.assert_error(401, "token", path);
    }
    let login = app
        .send_raw(
            Method::POST,
            "/api/users/login",
            &[
                ("authorization", "Token garbage"),
                ("content-type", "application/json"),
            ],
            r#"{"user":{"email":"a@b.c","password":"password1"}}"#,
        )
        .await;
    login.assert_error(401, "token", "login with a bad token");
}

async fn update_user_changes_only_the_given_fields(app: TestApp) {
    let jake = app.register("jake").await;
    let resp = app
        .put(
            "/api/user",
            Some(&jake.token),
            json!({"user": {"bio": "I work at statefarm", "image": "https://example.com/j.png"}}),
        )
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    assert_eq!(resp.body["user"]["bio"], "I work at statefarm");
    assert_eq!(resp.body["user"]["image"], "https://example.com/j.png");
    assert_eq!(resp.body["user"]["username"], "jake", "unchanged");
    assert_eq!(resp.body["user"]["email"], jake.email, "unchanged");

    let renamed = app
        .put(
            "/api/user",
            Some(&jake.token),
            json!({"user": {"username": "jacob", "email": "jacob@example.com", "ignored": true}}),
        )
        .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    assert_eq!(renamed.body["user"]["username"], "jacob");
    assert_eq!(renamed.body["user"]["bio"], "I work at statefarm", "kept");
    assert_eq!(app.get("/api/profiles/jacob", None).await.status, 200);
    assert_eq!(app.get("/api/profiles/jake", None).await.status, 404);

    let cleared = app
        .put(
            "/api/user",
            Some(&jake.token),
            json!({"user": {"bio": null, "image": ""}}),
        )
        .await;
    assert_eq!(cleared.status, 200);
    assert_eq!(cleared.body["user"]["bio"], "", "null clears bio");
    assert_eq!(cleared.body["user"]["image"], "", "empty clears image");
}

async fn update_user_rejects_invalid_or_empty_changes(app: TestApp) {
    let jake = app.register("jake").await;
    app.register("taken").await;
    let cases = [
        ("no field", json!({"user": {}}), "at least one"),
        (
            "only unknown fields",
            json!({"user": {"nickname": "j"}}),
            "at least one",
        ),
        (
            "image not http",
            json!({"user": {"image": "ftp://x/y.png"}}),
            "image",
        ),
        ("bad email", json!({"user": {"email": "nope"}}), "email"),
        (
            "short password",
            json!({"user": {"password": "short"}}),
            "password",
        ),
        (
            "bad username",
            json!({"user": {"username": ".."}}),
            "username",
        ),
        (
            "taken username",
            json!({"user": {"username": "TAKEN"}}),
            "username has already been taken",
        ),
        (
            "taken email",
            json!({"user": {"email": "taken@example.com"}}),
            "email has already been taken",
        ),
    ];
    for (context, body, needle) in cases {
        app.put("/api/user", Some(&jake.token), body)
            .await
            .assert_error(422, needle, context);
    }
    app.put("/api/user", None, json!({"user": {"bio": "x"}}))
        .await
        .assert_error(401, "token", "no token");
}

async fn a_password_change_revokes_earlier_tokens(app: TestApp) {
    let jake = app.register("jake").await;
    let resp = app
        .put(
            "/api/user",
            Some(&jake.token),
            json!({"user": {"password": "a-new-password"}}),
        )
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    let fresh = resp.body["user"]["token"].as_str().unwrap().to_owned();
    app.get("/api/user", Some(&jake.token))
        .await
        .assert_error(401, "revoked", "old token");
    assert_eq!(
        app.get("/api/user", Some(&fresh)).await.status,
        200,
        "new token works"
    );

    let old_login = app
        .post(
            "/api/users/login",
            None,
            json!({"user": {"email": jake.email, "password": jake.password}}),
        )
        .await;
    assert_eq!(old_login.status, 401, "old password no longer works");
    let new_login = app
        .post(
            "/api/users/login",
            None,
            json!({"user": {"email": jake.email, "password": "a-new-password"}}),
        )
        .await;
    assert_eq!(new_login.status, 200);
}

/// SQLite only: PostgreSQL requires a configured secret.
#[tokio::test]
async fn data_and_tokens_survive_a_restart_with_a_generated_secret() {
    let app = spawn_app_with(Backend::Sqlite, |config| config.secret = None).await;
    let jake = app.register("jake").await;
    app.create_article(&jake, "Persistent", &["kept"]).await;
    let app = app.restart().await;
    let me = app.get("/api/user", Some(&jake.token)).await;
    assert_eq!(
        me.status, 200,
        "token still valid after restart: {:?}",
        me.body
    );
    let list = app.get("/api/articles", None).await;
    assert_eq!(list.body["articlesCount"], 1);
    assert_eq!(list.body["articles"][0]["slug"], "persistent");
}

async fn bodies_over_the_limit_get_413_before_anything_else(app: TestApp) {
    let limit = app.config.max_body_bytes as usize;
    let big = format!(r#"{{"user":{{"username":"{}"}}}}"#, "a".repeat(limit));
    let declared = app
        .send_raw(
            Method::POST,
            "/api/users",
            &[("content-type", "application/json")],
            big.clone(),
        )
        .await;
    declared.assert_error(413, "larger than", "declared length");

    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
        .into_bytes()
        .chunks(64 * 1024)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let chunked = app
        .send_raw(
            Method::POST,
            "/api/articles",
            &[("content-type", "application/json")],
            reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)),
        )
        .await;
    chunked.assert_error(413, "larger than", "chunked, no token: 413 outranks 401");

    let small_chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(br#"{"user":{"username":"chunky","#.to_vec()),
        Ok(br#""email":"chunky@example.com","password":"password1"}}"#.to_vec()),
    ];
    let accepted = app
        .send_raw(
            Method::POST,
            "/api/users",
            &[("content-type", "application/json")],
            reqwest::Body::wrap_stream(futures_util::stream::iter(small_chunks)),
        )
        .await;
    assert_eq!(
        accepted.status, 201,
        "chunked bodies under the limit are fine: {:?}",
        accepted.body
    );
}

async fn unknown_paths_are_404_and_wrong_methods_405_with_allow(app: TestApp) {
    app.get("/api/nothing-here", None)
        .await
        .assert_error(404, "no resource", "unknown path");
    app.get("/api", None)
        .await
        .assert_error(404, "no resource", "the API's root");
    let cases = [
        (Method::GET, "/api/users", "POST"),
        (Method::DELETE, "/api/user", "GET, HEAD, PUT"),
        (Method::PATCH, "/api/articles", "GET, HEAD, POST"),
        (Method::POST, "/api/tags", "GET, HEAD"),
        (Method::PUT, "/api/profiles/jake/follow", "POST, DELETE"),
        (Method::GET, "/api/articles/some-slug/comments/1", "DELETE"),
    ];
    for (method, path, allow) in cases {
        let resp = app.send(method.clone(), path, None, None).await;
        resp.assert_error(405, "method not allowed", &format!("{method} {path}"));
        assert_eq!(resp.headers["allow"], allow, "{method} {path}");
    }
}

async fn errors_follow_the_precedence_401_404_403_422(app: TestApp) {
    let jake = app.register("jake").await;
    let other = app.register("other").await;
    let article = app.create_article(&jake, "Mine", &[]).await;
    let slug = article["slug"].as_str().unwrap();
    let invalid = json!({"article": {"title": "  "}});

    app.put("/api/articles/no-such-slug", None, invalid.clone())
        .await
        .assert_error(401, "token", "no token beats unknown slug");
    app.put(
        "/api/articles/no-such-slug",
        Some(&other.token),
        invalid.clone(),
    )
    .await
    .assert_error(404, "article not found", "unknown slug beats invalid body");
    app.put(
        &format!("/api/articles/{slug}"),
        Some(&other.token),
        invalid.clone(),
    )
    .await
    .assert_error(403, "author", "not the author beats invalid body");
    app.put(&format!("/api/articles/{slug}"), Some(&jake.token), invalid)
        .await
        .assert_error(422, "title", "the author gets the validation error");
}

async fn responses_carry_nosniff(app: TestApp) {
    let resp = app.get("/api/tags", None).await;
    assert_eq!(resp.headers["x-content-type-options"], "nosniff");
    assert!(resp.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
}

http_tests!(
    registration_returns_201_with_user_and_token_but_no_hash,
    registration_rejects_each_invalid_field,
    duplicate_usernames_and_emails_are_rejected_ignoring_case,
    login_works_with_the_email_in_any_case,
    login_does_not_reveal_which_emails_exist,
    login_without_fields_is_unprocessable,
    current_user_needs_a_valid_token,
    a_bad_token_is_refused_even_where_auth_is_optional,
    update_user_changes_only_the_given_fields,
    update_user_rejects_invalid_or_empty_changes,
    a_password_change_revokes_earlier_tokens,
    bodies_over_the_limit_get_413_before_anything_else,
    unknown_paths_are_404_and_wrong_methods_405_with_allow,
    errors_follow_the_precedence_401_404_403_422,
    responses_carry_nosniff,
);
