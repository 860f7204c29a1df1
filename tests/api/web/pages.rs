//! The web app's pages over plain HTTP: headers, cookies, the same-site
//! check on posts, error pages, the base path.

use reqwest::header::{HeaderMap, CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, REFERER, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::json;

use crate::helpers::{raw_exchange, spawn_app_with, Backend, ServerProcess, TestApp};

http_tests!(
    pages_carry_security_headers_and_a_long_cached_stylesheet,
    every_page_path_answers_in_html_whatever_the_method,
    the_icon_is_found_where_browsers_look,
    signing_in_returns_to_the_page_that_asked_for_it,
    signing_out_ends_that_session_on_every_server_and_no_other,
    a_sign_in_cookie_the_browser_will_drop_is_explained,
    an_article_over_the_size_limit_gets_a_page_that_says_so,
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
    assert_eq!(after.header(LOCATION), "/login?next=%2Fsettings");
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

/// `GET /logout` typed into the address bar, or a form posted to a page
/// that takes none: the HTML error page, with `Allow`, never JSON.
async fn every_page_path_answers_in_html_whatever_the_method(app: TestApp) {
    let cases = [
        (reqwest::Method::GET, "/logout", "POST", "not a visit"),
        (
            reqwest::Method::GET,
            "/article/a/favorite",
            "POST",
            "not a visit",
        ),
        (reqwest::Method::POST, "/", "GET, HEAD", "takes no form"),
        (
            reqwest::Method::DELETE,
            "/settings",
            "GET, HEAD, POST",
            "takes no form",
        ),
    ];
    for (method, path, allow, says) in cases {
        let origin = format!("http://{}", app.addr);
        let page = read(
            client()
                .request(method.clone(), app.url(path))
                .header(ORIGIN, origin)
                .send()
                .await
                .expect("request"),
        )
        .await;
        assert_eq!(page.status, 405, "{method} {path}");
        assert!(
            page.header(CONTENT_TYPE).starts_with("text/html"),
            "{method} {path}: {:?}",
            page.headers
        );
        assert_eq!(page.header("allow"), allow, "{method} {path}");
        assert!(page.body.contains(says), "{method} {path}: {}", page.body);
        assert!(
            page.header("content-security-policy")
                .contains("default-src"),
            "{method} {path}: a page like any other"
        );
    }
    // The API keeps its JSON answer.
    let api = read(client().get(app.url("/api/users")).send().await.unwrap()).await;
    assert_eq!(api.status, 405);
    assert!(api.header(CONTENT_TYPE).starts_with("application/json"));
}

/// Every page links its icon, and the address browsers try on their own
/// leads there: no 404 in the log for each page load.
async fn the_icon_is_found_where_browsers_look(app: TestApp) {
    let home = get(&app, "/", None).await;
    let icon = home
        .body
        .split("<link rel=\"icon\" type=\"image/svg+xml\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("an icon link");
    assert!(icon.starts_with("/assets/favicon-"), "{icon}");
    let svg = get(&app, icon, None).await;
    assert_eq!(svg.status, 200);
    assert_eq!(svg.header(CONTENT_TYPE), "image/svg+xml");
    assert!(svg.body.starts_with("<svg"), "{}", svg.body);
    let conventional = get(&app, "/favicon.ico", None).await;
    assert_eq!(conventional.status, 302);
    assert_eq!(conventional.header(LOCATION), icon);
}

/// A guest sent to sign in (opening the settings, pressing a button) comes
/// back to where they were; a `next` that leaves the site is ignored.
async fn signing_in_returns_to_the_page_that_asked_for_it(app: TestApp) {
    let user = app.register("kate").await;
    app.create_article(&user, "Worth a heart", &[]).await;
    let credentials = [
        ("email", user.email.as_str()),
        ("password", user.password.as_str()),
    ];

    let settings = get(&app, "/settings", None).await;
    assert_eq!(settings.status, 303);
    assert_eq!(settings.header(LOCATION), "/login?next=%2Fsettings");
    let form = get(&app, "/login?next=%2Fsettings", None).await;
    assert!(
        form.body.contains("action=\"/login?next=%2Fsettings\""),
        "the form posts the page on: {}",
        form.body
    );
    assert!(
        form.body.contains("href=\"/register?next=%2Fsettings\""),
        "and so does the way to sign up"
    );
    let signed_in = post_form(&app, "/login?next=%2Fsettings", None, &credentials).await;
    assert_eq!(signed_in.status, 303);
    assert_eq!(signed_in.header(LOCATION), "/settings");

    // A button pressed as a guest: back to the page it was on.
    let article = format!("http://{}/article/worth-a-heart", app.addr);
    let pressed = read(
        client()
            .post(app.url("/article/worth-a-heart/favorite"))
            .header(ORIGIN, format!("http://{}", app.addr))
            .header(REFERER, article)
            .form(&[("next", "/article/worth-a-heart")])
            .send()
            .await
            .expect("POST"),
    )
    .await;
    assert_eq!(pressed.status, 303);
    assert_eq!(
        pressed.header(LOCATION),
        "/login?next=%2Farticle%2Fworth-a-heart"
    );
    // The guest's heart links there too.
    let page = get(&app, "/article/worth-a-heart", None).await;
    assert!(
        page.body
            .contains("href=\"/login?next=%2Farticle%2Fworth-a-heart\""),
        "{}",
        page.body
    );

    for hostile in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let path = format!("/login?next={}", urlencode(hostile));
        let signed_in = post_form(&app, &path, None, &credentials).await;
        assert_eq!(signed_in.status, 303, "{hostile}");
        assert_eq!(signed_in.header(LOCATION), "/", "{hostile} is not followed");
    }
}

fn urlencode(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// Signing out ends that session on the server: its cookie, replayed,
/// opens nothing and works as no API token, on this server and on another
/// process sharing the database. The account's other session goes on.
async fn signing_out_ends_that_session_on_every_server_and_no_other(app: TestApp) {
    let user = app.register("liam").await;
    let credentials = [
        ("email", user.email.as_str()),
        ("password", user.password.as_str()),
    ];
    let this_device = post_form(&app, "/login", None, &credentials)
        .await
        .session_cookie();
    let other_device = post_form(&app, "/login", None, &credentials)
        .await
        .session_cookie();
    assert_ne!(
        this_device, other_device,
        "each sign-in is a session of its own"
    );
    let token = this_device
        .split_once('=')
        .expect("name=value")
        .1
        .to_owned();
    assert_eq!(app.get("/api/user", Some(&token)).await.status, 200);

    let out = post_form(&app, "/logout", Some(&this_device), &[]).await;
    assert_eq!(out.status, 303);

    let dir = tempfile::tempdir().expect("temp dir");
    let secret = app
        .config
        .secret
        .as_ref()
        .expect("a secret")
        .expose()
        .to_owned();
    let other_server = ServerProcess::start(
        dir.path(),
        &[
            ("CONDUIT_DATABASE_URL", &app.db.url),
            ("CONDUIT_SECRET", &secret),
        ],
    );
    for (server, url) in [
        ("this server", app.url("/settings")),
        ("another server", other_server.url("/settings")),
    ] {
        let replayed = read(
            client()
                .get(&url)
                .header(COOKIE, &this_device)
                .send()
                .await
                .expect("GET"),
        )
        .await;
        assert_eq!(replayed.status, 303, "{server}: {}", replayed.body);
        assert_eq!(
            replayed.header(LOCATION),
            "/login?next=%2Fsettings",
            "{server}"
        );
        assert!(
            replayed.header(SET_COOKIE).contains("Max-Age=0"),
            "{server}: the dead cookie is cleared"
        );
        let other = read(
            client()
                .get(&url)
                .header(COOKIE, &other_device)
                .send()
                .await
                .expect("GET"),
        )
        .await;
        assert_eq!(
            other.status, 200,
            "{server}: the other device is still signed in"
        );
        assert!(other.body.contains("liam@example.com"), "{server}");
    }
    let api = app.get("/api/user", Some(&token)).await;
    api.assert_error(401, "signed out", "the API on this server");
    let resp = reqwest::Client::new()
        .get(other_server.url("/api/user"))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), 401, "the API on another server");
    let comment = app
        .post(
            "/api/articles/anything/comments",
            Some(&token),
            json!({"comment": {"body": "still here?"}}),
        )
        .await;
    assert_eq!(comment.status, 401, "no comment posted with it");
}

/// Over plain HTTP from another machine a `Secure` cookie is dropped by the
/// browser: the sign-in checks that it came back, and if not says why and
/// which setting mends it. Here the "other machine" is told by a trusted
/// proxy (`X-Forwarded-For`), which also says the browser used plain HTTP.
async fn a_sign_in_cookie_the_browser_will_drop_is_explained(app: TestApp) {
    let app = spawn_app_with(app_backend(&app), |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    let user = app.register("mia").await;
    let origin = format!("http://{}", app.addr);
    let sign_in = |proto: &'static str| {
        client()
            .post(app.url("/login?next=%2Fsettings"))
            .header(ORIGIN, origin.clone())
            .header("x-forwarded-for", "192.0.2.7")
            .header("x-forwarded-proto", proto)
            .form(&[
                ("email", user.email.as_str()),
                ("password", user.password.as_str()),
            ])
    };

    let over_https = read(sign_in("https").send().await.unwrap()).await;
    assert_eq!(over_https.status, 303);
    assert_eq!(
        over_https.header(LOCATION),
        "/settings",
        "HTTPS: straight on"
    );

    let over_http = read(sign_in("http").send().await.unwrap()).await;
    assert_eq!(over_http.status, 303);
    assert!(over_http.header(SET_COOKIE).contains("; Secure"));
    let check = over_http.header(LOCATION).to_owned();
    assert_eq!(check, "/login?check=cookie&next=%2Fsettings");
    let from_lan = |cookie: Option<String>| {
        let mut request = client()
            .get(app.url(&check))
            .header("x-forwarded-for", "192.0.2.7")
            .header("x-forwarded-proto", "http");
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send()
    };
    // The browser dropped the cookie: the page says so, and how to mend it.
    let dropped = read(from_lan(None).await.unwrap()).await;
    assert_eq!(dropped.status, 200);
    for needle in [
        "did not keep the sign-in",
        "https://",
        "CONDUIT_COOKIE_SECURE=never",
    ] {
        assert!(dropped.body.contains(needle), "{needle}: {}", dropped.body);
    }
    // A browser that kept it (reached over HTTPS after all) goes on.
    let kept = read(from_lan(Some(over_http.session_cookie())).await.unwrap()).await;
    assert_eq!(kept.status, 303);
    assert_eq!(kept.header(LOCATION), "/settings");
}

/// The editor's form over the size limit, sent whole as a browser sends
/// it: a complete page that says the article is too large and how large
/// it may be, with the way back to the editor.
async fn an_article_over_the_size_limit_gets_a_page_that_says_so(app: TestApp) {
    app.register("noah").await;
    let cookie = post_form(
        &app,
        "/login",
        None,
        &[
            ("email", "noah@example.com"),
            ("password", "password-of-noah"),
        ],
    )
    .await
    .session_cookie();
    let mut body = b"title=Too+long&description=Far+too+long&body=".to_vec();
    body.resize(3 * 1024 * 1024, b'x');
    let head = format!(
        "POST /editor HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Origin: http://{addr}\r\nReferer: http://{addr}/editor\r\nCookie: {cookie}",
        addr = app.addr
    );
    for attempt in 1..=20 {
        let answer = raw_exchange(app.addr, &head, &body)
            .await
            .unwrap_or_else(|e| panic!("attempt {attempt}: {e}"));
        assert_eq!(answer.status, 413, "attempt {attempt}");
        assert!(
            answer.head.contains("content-type: text/html"),
            "{}",
            answer.head
        );
        let page = answer.text();
        for needle in [
            "This article is too large",
            "at most 2 MiB",
            "this one is 3 MiB",
            "It was not saved",
            "href=\"/editor\"",
        ] {
            assert!(page.contains(needle), "attempt {attempt}: {needle}: {page}");
        }
    }
}
