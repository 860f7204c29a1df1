//! The web app's pages over plain HTTP: headers, cookies, the same-site
//! check on posts, error pages, the base path.

use reqwest::header::{HeaderMap, CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, REFERER, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::json;

use crate::helpers::{spawn_app_with, Backend, TestApp};

http_tests!(
    pages_carry_security_headers_and_a_long_cached_stylesheet,
    unknown_pages_articles_and_users_get_an_html_404,
    signing_in_sets_a_hardened_cookie_and_a_password_change_ends_other_sessions,
    posts_must_come_from_this_site,
    form_errors_are_the_apis_messages_and_keep_what_was_typed,
    article_bodies_are_rendered_and_cleaned,
);

/// A page as a browser gets it: no redirect followed.
struct Page {
    status: u16,
    headers: HeaderMap,
    body: String,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

async fn get(app: &TestApp, path: &str, cookie: Option<&str>) -> Page {
    let mut request = client().get(app.url(path));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    read(request.send().await.expect("GET")).await
}

/// A form post from this site's own page.
async fn post_form(app: &TestApp, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Page {
    let origin = format!("http://{}", app.addr);
    let mut request = client()
        .post(app.url(path))
        .header(ORIGIN, origin)
        .form(form);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    read(request.send().await.expect("POST")).await
}

async fn read(resp: reqwest::Response) -> Page {
    Page {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.text().await.expect("body"),
    }
}

impl Page {
    fn header(&self, name: impl reqwest::header::AsHeaderName) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// `name=value` of the session cookie this response sets.
    fn session_cookie(&self) -> String {
        self.header(SET_COOKIE)
            .split(';')
            .next()
            .unwrap_or_default()
            .to_owned()
    }
}

async fn pages_carry_security_headers_and_a_long_cached_stylesheet(app: TestApp) {
    let home = get(&app, "/", None).await;
    assert_eq!(home.status, 200);
    assert!(
        home.header(CONTENT_TYPE).starts_with("text/html"),
        "{:?}",
        home.headers
    );
    let csp = home.header("content-security-policy");
    for directive in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(home.header("x-frame-options"), "DENY");
    assert_eq!(home.header("referrer-policy"), "same-origin");
    assert!(!home.body.contains("<script"), "no script at all");

    let href = home
        .body
        .split("<link rel=\"stylesheet\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a stylesheet link");
    assert!(
        href.starts_with("/assets/style-") && href.ends_with(".css"),
        "{href}"
    );
    let css = get(&app, href, None).await;
    assert_eq!(css.status, 200);
    assert!(css.header(CONTENT_TYPE).starts_with("text/css"));
    assert_eq!(
        css.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert!(css.body.contains("@media"), "readable on a phone");
    let stale = get(&app, "/assets/style-000000000000.css", None).await;
    assert_eq!(stale.status, 404, "an old hash is never served");

    // A user without a picture gets the default avatar, served here.
    let user = app.register("plain").await;
    app.create_article(&user, "Plain", &[]).await;
    let home = get(&app, "/", None).await;
    let avatar = home
        .body
        .split("<img class=\"avatar\" src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("an avatar");
    assert!(avatar.starts_with("/assets/avatar-"), "{avatar}");
    let svg = get(&app, avatar, None).await;
    assert_eq!(svg.status, 200);
    assert_eq!(svg.header(CONTENT_TYPE), "image/svg+xml");
}

async fn unknown_pages_articles_and_users_get_an_html_404(app: TestApp) {
    for path in [
        "/nothing-here",
        "/article/no-such-slug",
        "/profile/nobody",
        "/editor/x/y",
    ] {
        let page = get(&app, path, None).await;
        assert_eq!(page.status, 404, "{path}");
        assert!(page.header(CONTENT_TYPE).starts_with("text/html"), "{path}");
        assert!(
            page.body.contains("Page not found"),
            "{path}: {}",
            page.body
        );
        assert!(
            page.header("content-security-policy")
                .contains("default-src"),
            "{path}"
        );
    }
    // The API keeps its JSON answer.
    let api = get(&app, "/api/articles/no-such-slug", None).await;
    assert_eq!(api.status, 404);
    assert!(api.header(CONTENT_TYPE).starts_with("application/json"));
}

async fn signing_in_sets_a_hardened_cookie_and_a_password_change_ends_other_sessions(app: TestApp) {
    let user = app.register("dana").await;
    let signed_in = post_form(
        &app,
        "/login",
        None,
        &[("email", &user.email), ("password", &user.password)],
    )
    .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert_eq!(signed_in.header(LOCATION), "/");
    let set_cookie = signed_in.header(SET_COOKIE);
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} in {set_cookie}"
        );
    }
    // A browser on this machine over plain HTTP: not Secure, or it would
    // drop the cookie (the `auto` default).
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    let cookie = signed_in.session_cookie();
    let settings = get(&app, "/settings", Some(&cookie)).await;
    assert_eq!(settings.status, 200);
    assert!(
        settings.body.contains("dana@example.com"),
        "the settings show the email"
    );
    assert!(
        !settings.body.contains(&user.password),
        "never the password"
    );

    // Logout clears the cookie.
    let out = post_form(&app, "/logout", Some(&cookie), &[]).await;
    assert_eq!(out.status, 303);
    assert!(
        out.header(SET_COOKIE).contains("Max-Age=0"),
        "{:?}",
        out.headers
    );

    // A new password (through the API) ends the session.
    let resp = app
        .put(
            "/api/user",
            Some(&user.token),
            json!({"user": {"password": "a-brand-new-password"}}),
        )
        .await;
    assert_eq!(resp.status, 200);
    let after = get(&app, "/settings", Some(&cookie)).await;
    assert_eq!(after.status, 303, "a revoked session is sent to sign in");
    assert_eq!(after.header(LOCATION), "/login");
    assert!(
        after.header(SET_COOKIE).contains("Max-Age=0"),
        "and its cookie cleared"
    );

    // With `cookie_secure = always` the cookie is Secure even here.
    let strict = spawn_app_with(app_backend(&app), |c| {
        c.cookie_secure = conduit::http::site::CookieSecure::Always;
    })
    .await;
    let user = strict.register("erin").await;
    let signed_in = post_form(
        &strict,
        "/login",
        None,
        &[("email", &user.email), ("password", &user.password)],
    )
    .await;
    assert!(
        signed_in.header(SET_COOKIE).contains("; Secure"),
        "{:?}",
        signed_in.headers
    );
}

fn app_backend(app: &TestApp) -> Backend {
    if app.db.url.starts_with("postgres") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}

async fn posts_must_come_from_this_site(app: TestApp) {
    let user = app.register("frank").await;
    let form = [
        ("email", user.email.as_str()),
        ("password", user.password.as_str()),
    ];
    let cases: [(&str, Option<(&str, String)>); 4] = [
        (
            "another origin",
            Some(("origin", "https://evil.example".into())),
        ),
        ("an opaque origin", Some(("origin", "null".into()))),
        (
            "another site's referer",
            Some(("referer", "https://evil.example/page".into())),
        ),
        ("neither header", None),
    ];
    for (what, header) in cases {
        let mut request = client().post(app.url("/login")).form(&form);
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        let page = read(request.send().await.expect("POST")).await;
        assert_eq!(page.status, 403, "{what}");
        assert!(
            page.body.contains("posted from another site"),
            "{what}: {}",
            page.body
        );
        assert!(page.header(SET_COOKIE).is_empty(), "{what}: no session");
    }
    // A same-site Referer (no Origin) is enough.
    let referer = format!("http://{}/login", app.addr);
    let page = read(
        client()
            .post(app.url("/login"))
            .header(REFERER, referer)
            .form(&form)
            .send()
            .await
            .expect("POST"),
    )
    .await;
    assert_eq!(page.status, 303);
}

async fn form_errors_are_the_apis_messages_and_keep_what_was_typed(app: TestApp) {
    let page = post_form(
        &app,
        "/register",
        None,
        &[
            ("username", ""),
            ("email", "grace@example.com"),
            ("password", "secret-typed"),
        ],
    )
    .await;
    assert_eq!(page.status, 422);
    assert!(
        page.body.contains("username can&#39;t be blank")
            || page.body.contains("username can't be blank"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("value=\"grace@example.com\""),
        "the email is kept"
    );
    assert!(!page.body.contains("secret-typed"), "the password is not");

    app.register("taken").await;
    let page = post_form(
        &app,
        "/register",
        None,
        &[
            ("username", "taken"),
            ("email", "other@example.com"),
            ("password", "long-enough-1"),
        ],
    )
    .await;
    assert_eq!(page.status, 422);
    assert!(
        page.body.contains("username has already been taken"),
        "{}",
        page.body
    );

    // The editor says what the API says, and keeps the draft.
    let signed_in = post_form(
        &app,
        "/register",
        None,
        &[
            ("username", "heidi"),
            ("email", "heidi@example.com"),
            ("password", "long-enough-2"),
        ],
    )
    .await;
    assert_eq!(signed_in.status, 303);
    let cookie = signed_in.session_cookie();
    let page = post_form(
        &app,
        "/editor",
        Some(&cookie),
        &[
            ("title", ""),
            ("description", "kept"),
            ("body", "draft body"),
            ("tagList", "a b"),
        ],
    )
    .await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("title can"), "{}", page.body);
    assert!(page.body.contains("draft body") && page.body.contains("value=\"a b\""));

    // Posting as a guest sends one to sign in.
    let page = post_form(&app, "/editor", None, &[("title", "x")]).await;
    assert_eq!(page.status, 303);
    assert_eq!(page.header(LOCATION), "/login");
}

async fn article_bodies_are_rendered_and_cleaned(app: TestApp) {
    let user = app.register("ivan").await;
    let body = "# Big\n\n<script>alert(1)</script><a href=\"javascript:alert(2)\">x</a>\
                <img src=\"https://example.com/a.png\" onerror=\"alert(3)\">";
    let resp = app
        .post(
            "/api/articles",
            Some(&user.token),
            json!({"article": {"title": "Clean", "description": "d", "body": body}}),
        )
        .await;
    assert_eq!(resp.status, 201);
    let page = get(&app, "/article/clean", None).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<h1>Big</h1>"), "{}", page.body);
    assert!(
        page.body
            .contains("<img src=\"https://example.com/a.png\">"),
        "{}",
        page.body
    );
    for needle in ["<script", "javascript:", "onerror", "alert("] {
        assert!(
            !page.body.contains(needle),
            "{needle} survived: {}",
            page.body
        );
    }
}

/// Under a base path, every link, redirect and the cookie carry it.
#[tokio::test]
async fn the_app_works_under_a_base_path() {
    let app = spawn_app_with(Backend::Sqlite, |c| c.public_base_path = "/conduit".into()).await;
    let home = get(&app, "/", None).await;
    assert_eq!(home.status, 200);
    assert!(
        home.body.contains("href=\"/conduit/assets/style-"),
        "{}",
        home.body
    );
    assert!(home.body.contains("href=\"/conduit/login\""));
    assert!(
        !home.body.contains("href=\"/login\""),
        "no link escapes the base path"
    );
    let user = app.register("judy").await;
    let signed_in = post_form(
        &app,
        "/login",
        None,
        &[("email", &user.email), ("password", &user.password)],
    )
    .await;
    assert_eq!(signed_in.status, 303);
    assert_eq!(signed_in.header(LOCATION), "/conduit/");
    assert!(
        signed_in.header(SET_COOKIE).contains("Path=/conduit;"),
        "{:?}",
        signed_in.headers
    );
}
