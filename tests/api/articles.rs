//! Articles: create, read, update, delete, the lists with their filters and
//! paging, favorites and the feed.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// Who wrote each article, who favorited it and who follows whom, as the
/// test set it up: the expected flags of every list item for any viewer.
#[derive(Default)]
struct World {
    authors: HashMap<String, String>,
    fans: HashMap<String, HashSet<String>>,
    follows: HashSet<(String, String)>,
}

impl World {
    /// Creates an article through the API and returns its slug.
    async fn create(
        &mut self,
        app: &TestApp,
        author: &TestUser,
        title: &str,
        tags: &[&str],
    ) -> String {
        let article = app.create_article(author, title, tags).await;
        let slug = article["slug"].as_str().expect("slug").to_owned();
        self.authors.insert(slug.clone(), author.username.clone());
        slug
    }

    async fn favorite(&mut self, app: &TestApp, user: &TestUser, slug: &str) {
        app.favorite(user, slug).await;
        self.fans
            .entry(slug.to_owned())
            .or_default()
            .insert(user.username.clone());
    }

    async fn follow(&mut self, app: &TestApp, follower: &TestUser, followee: &TestUser) {
        app.follow(follower, followee).await;
        self.follows
            .insert((follower.username.clone(), followee.username.clone()));
    }

    /// Checks the author, `favorited`, `favoritesCount` and `following` of
    /// one article as `viewer` should see it.
    #[track_caller]
    fn check_item(&self, item: &Value, viewer: Option<&TestUser>, context: &str) {
        let slug = item["slug"]
            .as_str()
            .unwrap_or_else(|| panic!("{context}: no slug in {item}"));
        let author = &self.authors[slug];
        let fans = self.fans.get(slug);
        let count = fans.map_or(0, HashSet::len) as i64;
        let favorited = viewer.is_some_and(|v| fans.is_some_and(|f| f.contains(&v.username)));
        let following =
            viewer.is_some_and(|v| self.follows.contains(&(v.username.clone(), author.clone())));
        assert_eq!(
            item["author"]["username"],
            author.as_str(),
            "{context}: author of {slug}"
        );
        assert_eq!(
            item["favorited"], favorited,
            "{context}: favorited of {slug}"
        );
        assert_eq!(
            item["favoritesCount"], count,
            "{context}: favoritesCount of {slug}"
        );
        assert_eq!(
            item["author"]["following"], following,
            "{context}: following of {slug}"
        );
        assert!(
            item["author"].get("email").is_none(),
            "{context}: a profile never has an email"
        );
    }

    /// GETs a list as `viewer` and checks its slugs in order, its total and
    /// the flags of every item; list items carry no `body`.
    async fn expect_list(
        &self,
        app: &TestApp,
        path: &str,
        viewer: Option<&TestUser>,
        slugs: &[&str],
        total: i64,
        context: &str,
    ) {
        let resp = app.get(path, viewer.map(|v| v.token.as_str())).await;
        let who = viewer.map_or("anonymous", |v| v.username.as_str());
        let context = format!("{context} (GET {path} as {who})");
        assert_eq!(resp.status, 200, "{context}: {:?}", resp.body);
        assert_eq!(
            resp.body["articlesCount"], total,
            "{context}: articlesCount"
        );
        let items = resp.body["articles"]
            .as_array()
            .unwrap_or_else(|| panic!("{context}: no articles array in {:?}", resp.body));
        let got: Vec<&str> = items
            .iter()
            .map(|a| a["slug"].as_str().unwrap_or("?"))
            .collect();
        assert_eq!(got, slugs, "{context}: slugs in order");
        for item in items {
            assert!(
                item.get("body").is_none(),
                "{context}: a list item has a body: {item}"
            );
            assert!(item["tagList"].is_array(), "{context}: tagList: {item}");
            self.check_item(item, viewer, &context);
        }
    }
}

fn article_body(title: &str, description: &str, body: &str, tags: &[&str]) -> Value {
    json!({"article": {"title": title, "description": description, "body": body, "tagList": tags}})
}

/// Flips one character of the signature, so the token no longer verifies.
fn tampered(token: &str) -> String {
    let (rest, signature) = token.rsplit_once('.').expect("a JWT has three parts");
    let first = if signature.starts_with('A') { 'B' } else { 'A' };
    format!("{rest}.{first}{}", &signature[1..])
}

async fn send_json_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    raw: String,
) -> Resp {
    let auth = token.map(|t| format!("Token {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth.as_str()));
    }
    app.send_raw(method, path, &headers, raw).await
}

async fn article_count(app: &TestApp) -> i64 {
    let resp = app.get("/api/articles", None).await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    resp.body["articlesCount"].as_i64().expect("articlesCount")
}

// ---- create ----------------------------------------------------------------

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

// ---- slugs -----------------------------------------------------------------

async fn the_same_title_twice_gives_distinct_slugs_with_a_short_suffix(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let first = app.create_article(&alice, "Hello World", &[]).await;
    let second = app.create_article(&bob, "Hello World", &[]).await;
    let third = app.create_article(&alice, "hello, world!", &[]).await;
    assert_eq!(first["slug"], "hello-world");
    let mut seen = HashSet::new();
    seen.insert("hello-world".to_owned());
    for (which, article) in [("second", &second), ("third", &third)] {
        let slug = article["slug"].as_str().expect("slug");
        let suffix = slug
            .strip_prefix("hello-world-")
            .unwrap_or_else(|| panic!("{which}: {slug} does not extend hello-world"));
        assert!(
            (1..=8).contains(&suffix.len())
                && suffix
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "{which}: the suffix of {slug} is short, lowercase ASCII"
        );
        assert!(seen.insert(slug.to_owned()), "{which}: {slug} is distinct");
    }
    // Each slug leads to its own article.
    for (article, author) in [(&first, "alice"), (&second, "bob"), (&third, "alice")] {
        let slug = article["slug"].as_str().expect("slug");
        let got = app.get(&format!("/api/articles/{slug}"), None).await;
        assert_eq!(got.status, 200, "{slug}: {:?}", got.body);
        assert_eq!(got.body["article"]["title"], article["title"], "{slug}");
        assert_eq!(got.body["article"]["author"]["username"], author, "{slug}");
    }
    // A title change onto a taken slug gets a suffix too.
    let other = app.create_article(&alice, "Something Else", &[]).await;
    let other_slug = other["slug"].as_str().expect("slug");
    let resp = app
        .put(
            &format!("/api/articles/{other_slug}"),
            Some(&alice.token),
            json!({"article": {"title": "Hello World"}}),
        )
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    let renamed = resp.body["article"]["slug"].as_str().expect("slug");
    assert!(
        renamed.starts_with("hello-world-") && !seen.contains(renamed),
        "renamed onto a taken slug: {renamed}"
    );
    assert_eq!(
        app.get("/api/articles/hello-world", None).await.body["article"]["author"]["username"],
        "alice"
    );
}

async fn a_title_of_feed_never_gets_the_slug_feed(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.follow(&bob, &alice).await;
    let mut slugs = Vec::new();
    for title in ["Feed", "feed", " FEED! "] {
        let article = app.create_article(&alice, title, &[]).await;
        let slug = article["slug"].as_str().expect("slug").to_owned();
        assert!(
            slug.starts_with("feed-") && slug.len() > 5,
            "title {title:?} gave slug {slug}"
        );
        slugs.push(slug);
    }
    let plain = app.create_article(&alice, "Plain", &[]).await;
    let resp = app
        .put(
            "/api/articles/plain",
            Some(&alice.token),
            json!({"article": {"title": "Feed"}}),
        )
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    let renamed = resp.body["article"]["slug"]
        .as_str()
        .expect("slug")
        .to_owned();
    assert!(
        renamed.starts_with("feed-"),
        "renamed to Feed: {renamed} (was {})",
        plain["slug"]
    );
    slugs.push(renamed);
    for slug in &slugs {
        let got = app.get(&format!("/api/articles/{slug}"), None).await;
        assert_eq!(got.status, 200, "{slug}: {:?}", got.body);
    }
    // /articles/feed is still the feed: bob follows alice and sees all four.
    let feed = app.get("/api/articles/feed", Some(&bob.token)).await;
    assert_eq!(feed.status, 200, "{:?}", feed.body);
    assert_eq!(feed.body["articlesCount"], 4, "{:?}", feed.body);
    assert!(
        feed.body.get("article").is_none(),
        "the feed is not an article: {:?}",
        feed.body
    );
}

async fn non_ascii_titles_are_transliterated_in_slugs(app: TestApp) {
    let alice = app.register("alice").await;
    let cases = [
        ("Ünïcödé Çafé", "unicode-cafe"),
        ("Straße nach Köln", "strasse-nach-koln"),
        ("C++ & Rust: 2026", "c-rust-2026"),
    ];
    for (title, expected) in cases {
        let article = app.create_article(&alice, title, &[]).await;
        assert_eq!(article["slug"], expected, "title {title:?}");
        assert_eq!(article["title"], title, "the title itself is kept as given");
        let got = app.get(&format!("/api/articles/{expected}"), None).await;
        assert_eq!(got.status, 200, "{expected}: {:?}", got.body);
    }
    // A title with nothing to transliterate still gets a usable slug.
    for title in ["!!!", "😀😀"] {
        let article = app.create_article(&alice, title, &[]).await;
        let slug = article["slug"].as_str().expect("slug");
        assert!(
            !slug.is_empty()
                && !slug.starts_with('-')
                && !slug.ends_with('-')
                && slug
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "title {title:?} gave slug {slug:?}"
        );
        let got = app.get(&format!("/api/articles/{slug}"), None).await;
        assert_eq!(got.status, 200, "{slug}: {:?}", got.body);
    }
}

// ---- read ------------------------------------------------------------------

async fn getting_an_article_shows_its_body_and_the_viewers_flags(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let mut world = World::default();
    let slug = world.create(&app, &alice, "Single", &["one"]).await;
    let other = world.create(&app, &bob, "Other", &[]).await;
    world.favorite(&app, &bob, &slug).await;
    world.follow(&app, &bob, &alice).await;
    world.favorite(&app, &carol, &other).await;

    for viewer in [None, Some(&alice), Some(&bob), Some(&carol)] {
        let who = viewer.map_or("anonymous", |v| v.username.as_str());
        for s in [&slug, &other] {
            let resp = app
                .get(
                    &format!("/api/articles/{s}"),
                    viewer.map(|v| v.token.as_str()),
                )
                .await;
            assert_eq!(resp.status, 200, "{s} as {who}: {:?}", resp.body);
            let article = &resp.body["article"];
            assert!(
                article["body"].is_string(),
                "{s} as {who}: a single article has its body"
            );
            world.check_item(article, viewer, &format!("{s} as {who}"));
        }
    }
    let resp = app.get("/api/articles/single", None).await;
    assert_eq!(resp.body["article"]["body"], "The body of Single.");
    assert_eq!(resp.body["article"]["tagList"], json!(["one"]));
}

async fn getting_an_unknown_article_is_404(app: TestApp) {
    let alice = app.register("alice").await;
    app.create_article(&alice, "Known", &[]).await;
    let cases = [
        (
            "unknown slug, anonymous",
            "/api/articles/no-such-article",
            None,
        ),
        (
            "unknown slug, signed in",
            "/api/articles/no-such-article",
            Some(alice.token.as_str()),
        ),
        ("a slug's prefix", "/api/articles/know", None),
    ];
    for (context, path, token) in cases {
        app.get(path, token)
            .await
            .assert_error(404, "article not found", context);
    }
}

/// The official RealWorld Postman collection creates `["training",
/// "dragons"]` and expects `["dragons", "training"]` back: every response
/// lists tags sorted by code point, whatever order was given.
async fn tag_lists_are_sorted_by_code_point_in_every_response(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.follow(&bob, &alice).await;
    let created = app
        .create_article(&alice, "How to train your dragon", &["training", "dragons"])
        .await;
    let slug = created["slug"].as_str().expect("slug").to_owned();
    assert_eq!(created["tagList"], json!(["dragons", "training"]), "create");
    app.favorite(&bob, &slug).await;

    let single = format!("/api/articles/{slug}");
    let lists = [
        "/api/articles",
        "/api/articles?tag=dragons",
        "/api/articles?author=alice",
        "/api/articles?favorited=bob",
        "/api/articles/feed",
    ];
    let expect_everywhere = |expected: Value, when: &'static str| {
        let app = &app;
        let bob = &bob;
        let single = single.clone();
        async move {
            let resp = app.get(&single, None).await;
            assert_eq!(resp.body["article"]["tagList"], expected, "{when}: single");
            for path in lists {
                let resp = app.get(path, Some(&bob.token)).await;
                assert_eq!(resp.status, 200, "{when}: {path}: {:?}", resp.body);
                assert_eq!(
                    resp.body["articles"][0]["tagList"], expected,
                    "{when}: {path}"
                );
            }
        }
    };
    expect_everywhere(json!(["dragons", "training"]), "after create").await;

    // Upper case sorts before lower case, and non-ASCII after both.
    let resp = app
        .put(
            &single,
            Some(&alice.token),
            json!({"article": {"tagList": ["zebra", "éclair", "Zebra", "dragons", "zebra"]}}),
        )
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    let sorted = json!(["Zebra", "dragons", "zebra", "éclair"]);
    assert_eq!(resp.body["article"]["tagList"], sorted, "update");
    expect_everywhere(sorted, "after update").await;
}

// ---- update ----------------------------------------------------------------

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

// ---- delete ----------------------------------------------------------------

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

// ---- lists -----------------------------------------------------------------

async fn the_list_is_newest_first_without_bodies_with_flags_per_viewer(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let mut world = World::default();
    let a1 = world.create(&app, &alice, "Alice One", &["x"]).await;
    let b1 = world.create(&app, &bob, "Bob One", &["y", "x"]).await;
    let a2 = world.create(&app, &alice, "Alice Two", &[]).await;
    world.follow(&app, &carol, &alice).await;
    world.favorite(&app, &carol, &b1).await;
    world.favorite(&app, &bob, &a1).await;
    world.favorite(&app, &carol, &a1).await;

    for viewer in [None, Some(&alice), Some(&bob), Some(&carol)] {
        world
            .expect_list(
                &app,
                "/api/articles",
                viewer,
                &[&a2, &b1, &a1],
                3,
                "global list",
            )
            .await;
    }
    // Spot-check the model against literal expectations for carol.
    let resp = app.get("/api/articles", Some(&carol.token)).await;
    let flags: Vec<(bool, bool, i64)> = resp.body["articles"]
        .as_array()
        .expect("articles")
        .iter()
        .map(|a| {
            (
                a["favorited"].as_bool().expect("favorited"),
                a["author"]["following"].as_bool().expect("following"),
                a["favoritesCount"].as_i64().expect("favoritesCount"),
            )
        })
        .collect();
    assert_eq!(
        flags,
        [(false, true, 0), (true, false, 1), (true, true, 2)],
        "carol's view"
    );
    assert_eq!(
        resp.body["articles"][1]["tagList"],
        json!(["x", "y"]),
        "tags sorted in lists"
    );
}

async fn the_list_pages_with_limit_and_offset_and_counts_the_total(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut world = World::default();
    let mut slugs = Vec::new();
    for i in 0..5 {
        let author = if i % 2 == 0 { &alice } else { &bob };
        slugs.push(world.create(&app, author, &format!("Paged {i}"), &[]).await);
    }
    world.follow(&app, &bob, &alice).await;
    world.favorite(&app, &alice, &slugs[3]).await;
    world.favorite(&app, &bob, &slugs[0]).await;
    slugs.reverse(); // newest first
    let s: Vec<&str> = slugs.iter().map(String::as_str).collect();
    let cases = [
        ("first page", "/api/articles?limit=2", &s[0..2]),
        ("second page", "/api/articles?limit=2&offset=2", &s[2..4]),
        (
            "last, partial page",
            "/api/articles?limit=2&offset=4",
            &s[4..5],
        ),
        ("offset only", "/api/articles?offset=3", &s[3..5]),
        ("limit 1", "/api/articles?limit=1&offset=1", &s[1..2]),
        ("offset at the end", "/api/articles?offset=5", &s[5..5]),
        (
            "offset past the end",
            "/api/articles?limit=2&offset=50",
            &s[5..5],
        ),
        ("defaults", "/api/articles", &s[..]),
        (
            "explicit defaults",
            "/api/articles?limit=20&offset=0",
            &s[..],
        ),
        ("a limit of exactly 100", "/api/articles?limit=100", &s[..]),
    ];
    for (context, path, expected) in cases {
        for viewer in [None, Some(&alice), Some(&bob)] {
            world
                .expect_list(&app, path, viewer, expected, 5, context)
                .await;
        }
    }
    // Paging applies after filtering, and the count is the filtered total.
    world
        .expect_list(
            &app,
            "/api/articles?author=alice&limit=1&offset=1",
            Some(&bob),
            &[s[2]],
            3,
            "filtered page",
        )
        .await;
}

async fn a_limit_above_100_is_capped_to_100(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let mut world = World::default();
    let mut slugs = Vec::new();
    for i in 0..101 {
        let author = if i % 3 == 0 { &bob } else { &alice };
        slugs.push(world.create(&app, author, &format!("Bulk {i}"), &[]).await);
    }
    world.follow(&app, &carol, &bob).await;
    world.favorite(&app, &carol, &slugs[100]).await;
    world.favorite(&app, &alice, &slugs[50]).await;
    world.favorite(&app, &carol, &slugs[50]).await;
    slugs.reverse();
    let s: Vec<&str> = slugs.iter().map(String::as_str).collect();
    for viewer in [None, Some(&carol)] {
        world
            .expect_list(
                &app,
                "/api/articles?limit=101",
                viewer,
                &s[..100],
                101,
                "limit 101",
            )
            .await;
        world
            .expect_list(
                &app,
                "/api/articles?limit=100000",
                viewer,
                &s[..100],
                101,
                "limit 100000",
            )
            .await;
        world
            .expect_list(
                &app,
                "/api/articles",
                viewer,
                &s[..20],
                101,
                "default limit 20",
            )
            .await;
        world
            .expect_list(
                &app,
                "/api/articles?limit=500&offset=100",
                viewer,
                &s[100..],
                101,
                "the rest",
            )
            .await;
    }
}

async fn invalid_limit_or_offset_is_422(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.create_article(&alice, "One", &[]).await;
    app.create_article(&bob, "Two", &[]).await;
    app.follow(&alice, &bob).await;
    let cases = [
        ("zero limit", "limit=0", "limit must be at least 1"),
        ("negative limit", "limit=-1", "limit must be at least 1"),
        (
            "non-numeric limit",
            "limit=ten",
            "limit must be a whole number",
        ),
        (
            "fractional limit",
            "limit=1.5",
            "limit must be a whole number",
        ),
        (
            "overflowing limit",
            "limit=99999999999999999999",
            "limit must be a whole number",
        ),
        ("negative offset", "offset=-1", "offset must be 0 or more"),
        (
            "non-numeric offset",
            "offset=two",
            "offset must be a whole number",
        ),
        (
            "overflowing offset",
            "offset=99999999999999999999",
            "offset must be a whole number",
        ),
        (
            "bad limit with a good offset",
            "limit=0&offset=1",
            "limit must be at least 1",
        ),
        (
            "bad limit with a filter",
            "author=alice&limit=-5",
            "limit must be at least 1",
        ),
    ];
    for (context, query, needle) in cases {
        app.get(&format!("/api/articles?{query}"), None)
            .await
            .assert_error(422, needle, &format!("{context} on /articles"));
        app.get(&format!("/api/articles?{query}"), Some(&alice.token))
            .await
            .assert_error(422, needle, &format!("{context} on /articles, signed in"));
        app.get(&format!("/api/articles/feed?{query}"), Some(&alice.token))
            .await
            .assert_error(422, needle, &format!("{context} on /articles/feed"));
    }
}

async fn filters_by_tag_author_and_favorited_combine(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("Carol").await;
    let mut world = World::default();
    let a1 = world
        .create(&app, &alice, "Alice Rust Web", &["rust", "web"])
        .await;
    let b1 = world.create(&app, &bob, "Bob Rust", &["rust"]).await;
    let a2 = world.create(&app, &alice, "Alice Go", &["go"]).await;
    let b2 = world.create(&app, &bob, "Bob Web", &["web", "Rust"]).await;
    world.favorite(&app, &carol, &a1).await;
    world.favorite(&app, &carol, &b1).await;
    world.favorite(&app, &bob, &a2).await;
    world.favorite(&app, &bob, &a1).await;
    world.follow(&app, &carol, &bob).await;
    world.follow(&app, &bob, &alice).await;

    let cases: [(&str, &str, Vec<&str>); 14] = [
        ("tag", "tag=rust", vec![&b1, &a1]),
        ("tag is case-sensitive", "tag=Rust", vec![&b2]),
        ("author", "author=alice", vec![&a2, &a1]),
        ("author in another case", "author=ALICE", vec![&a2, &a1]),
        ("favorited", "favorited=Carol", vec![&b1, &a1]),
        (
            "favorited in another case",
            "favorited=carol",
            vec![&b1, &a1],
        ),
        ("favorited by bob", "favorited=BOB", vec![&a2, &a1]),
        ("tag and author", "tag=rust&author=alice", vec![&a1]),
        (
            "tag and author, nothing in common",
            "tag=go&author=bob",
            vec![],
        ),
        (
            "author and favorited",
            "author=bob&favorited=carol",
            vec![&b1],
        ),
        ("tag and favorited", "tag=web&favorited=carol", vec![&a1]),
        (
            "all three",
            "tag=rust&author=Bob&favorited=CAROL",
            vec![&b1],
        ),
        (
            "all three, nothing in common",
            "tag=web&author=bob&favorited=carol",
            vec![],
        ),
        ("percent-encoded", "author=%61lice&tag=w%65b", vec![&a1]),
    ];
    for (context, query, expected) in cases {
        let path = format!("/api/articles?{query}");
        for viewer in [None, Some(&carol), Some(&bob)] {
            world
                .expect_list(
                    &app,
                    &path,
                    viewer,
                    &expected,
                    expected.len() as i64,
                    context,
                )
                .await;
        }
    }
}

async fn unknown_filter_values_give_an_empty_list_not_404(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut world = World::default();
    let a1 = world.create(&app, &alice, "First", &["rust"]).await;
    let b1 = world.create(&app, &bob, "Second", &["go"]).await;
    world.favorite(&app, &alice, &b1).await;
    let cases = [
        ("unknown tag", "tag=cobol"),
        ("unknown author", "author=nobody"),
        ("unknown favoriting user", "favorited=nobody"),
        ("a user who favorited nothing", "favorited=bob"),
        (
            "an author who wrote nothing matching",
            "author=alice&tag=go",
        ),
        ("unknown everything", "tag=x&author=y&favorited=z"),
    ];
    for (context, query) in cases {
        for viewer in [None, Some(&alice)] {
            world
                .expect_list(
                    &app,
                    &format!("/api/articles?{query}"),
                    viewer,
                    &[],
                    0,
                    context,
                )
                .await;
        }
    }
    world
        .expect_list(
            &app,
            "/api/articles",
            Some(&alice),
            &[&b1, &a1],
            2,
            "unfiltered",
        )
        .await;
}

// ---- favorites -------------------------------------------------------------

async fn favorite_and_unfavorite_are_idempotent_with_exact_counts(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let mut world = World::default();
    let popular = world.create(&app, &alice, "Popular", &[]).await;
    let quiet = world.create(&app, &alice, "Quiet", &[]).await;
    let path = format!("/api/articles/{popular}/favorite");

    // (who, method, expected favorited for them, expected count after)
    let steps = [
        (&bob, Method::POST, true, 1),
        (&bob, Method::POST, true, 1),
        (&carol, Method::POST, true, 2),
        (&carol, Method::POST, true, 2),
        (&bob, Method::DELETE, false, 1),
        (&bob, Method::DELETE, false, 1),
        (&alice, Method::DELETE, false, 1),
        (&alice, Method::POST, true, 2),
        (&alice, Method::DELETE, false, 1),
    ];
    for (i, (user, method, favorited, count)) in steps.into_iter().enumerate() {
        let context = format!("step {i}: {method} by {}", user.username);
        let resp = app
            .send(
                method.clone(),
                &path,
                Some(&user.token),
                (method == Method::POST).then(|| json!({})),
            )
            .await;
        assert_eq!(resp.status, 200, "{context}: {:?}", resp.body);
        let article = &resp.body["article"];
        assert_eq!(article["slug"], popular.as_str(), "{context}");
        assert_eq!(article["favorited"], favorited, "{context}: favorited");
        assert_eq!(
            article["favoritesCount"], count,
            "{context}: favoritesCount"
        );
    }
    // Only carol still favorites it.
    world
        .fans
        .entry(popular.clone())
        .or_default()
        .insert(carol.username.clone());
    for viewer in [None, Some(&alice), Some(&bob), Some(&carol)] {
        let who = viewer.map_or("anonymous", |v| v.username.as_str());
        let resp = app
            .get(
                &format!("/api/articles/{popular}"),
                viewer.map(|v| v.token.as_str()),
            )
            .await;
        world.check_item(&resp.body["article"], viewer, &format!("GET as {who}"));
        world
            .expect_list(
                &app,
                "/api/articles",
                viewer,
                &[&quiet, &popular],
                2,
                "after favoriting",
            )
            .await;
        world
            .expect_list(
                &app,
                "/api/articles?favorited=carol",
                viewer,
                &[&popular],
                1,
                "carol's favorites",
            )
            .await;
        world
            .expect_list(
                &app,
                "/api/articles?favorited=bob",
                viewer,
                &[],
                0,
                "bob unfavorited",
            )
            .await;
    }
}

async fn favoriting_an_unknown_article_is_404_and_without_a_token_401(app: TestApp) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut world = World::default();
    let a1 = world.create(&app, &alice, "Target", &[]).await;
    let b1 = world.create(&app, &bob, "Other", &[]).await;
    let target = format!("/api/articles/{a1}/favorite");
    let unknown = "/api/articles/no-such-article/favorite";
    let cases = [
        (
            "favorite unknown slug",
            Method::POST,
            unknown,
            Some(bob.token.as_str()),
            404,
            "article not found",
        ),
        (
            "unfavorite unknown slug",
            Method::DELETE,
            unknown,
            Some(bob.token.as_str()),
            404,
            "article not found",
        ),
        (
            "favorite without token",
            Method::POST,
            target.as_str(),
            None,
            401,
            "needs a token",
        ),
        (
            "unfavorite without token",
            Method::DELETE,
            target.as_str(),
            None,
            401,
            "needs a token",
        ),
        (
            "favorite unknown slug without token",
            Method::POST,
            unknown,
            None,
            401,
            "needs a token",
        ),
        (
            "favorite with garbage token",
            Method::POST,
            target.as_str(),
            Some("garbage"),
            401,
            "token",
        ),
    ];
    for (context, method, path, token, status, needle) in cases {
        let body = (method == Method::POST).then(|| json!({}));
        let resp = app.send(method, path, token, body).await;
        resp.assert_error(status, needle, context);
        if status == 401 {
            assert!(
                resp.headers.contains_key("www-authenticate"),
                "{context}: WWW-Authenticate"
            );
        }
    }
    for viewer in [None, Some(&bob)] {
        world
            .expect_list(
                &app,
                "/api/articles",
                viewer,
                &[&b1, &a1],
                2,
                "no favorite was recorded",
            )
            .await;
    }
}

// ---- feed ------------------------------------------------------------------

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

// ---- tokens ----------------------------------------------------------------

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
    creating_an_article_returns_201_with_slug_ordered_tags_author_and_timestamps,
    creating_accepts_values_at_their_limits,
    creating_an_invalid_article_is_422_and_stores_nothing,
    creating_without_a_valid_token_is_401_whatever_the_body,
    the_same_title_twice_gives_distinct_slugs_with_a_short_suffix,
    a_title_of_feed_never_gets_the_slug_feed,
    non_ascii_titles_are_transliterated_in_slugs,
    getting_an_article_shows_its_body_and_the_viewers_flags,
    getting_an_unknown_article_is_404,
    tag_lists_are_sorted_by_code_point_in_every_response,
    the_author_updates_title_and_body_and_the_slug_follows_the_title,
    update_errors_come_in_the_policy_order_and_change_nothing,
    the_author_deletes_an_article_with_204_and_it_is_gone,
    deleting_someone_elses_article_is_403_and_keeps_it,
    the_list_is_newest_first_without_bodies_with_flags_per_viewer,
    the_list_pages_with_limit_and_offset_and_counts_the_total,
    a_limit_above_100_is_capped_to_100,
    invalid_limit_or_offset_is_422,
    filters_by_tag_author_and_favorited_combine,
    unknown_filter_values_give_an_empty_list_not_404,
    favorite_and_unfavorite_are_idempotent_with_exact_counts,
    favoriting_an_unknown_article_is_404_and_without_a_token_401,
    the_feed_requires_a_token,
    the_feed_lists_only_followed_authors_newest_first,
    the_feed_is_empty_for_a_user_who_follows_nobody,
    a_bad_token_is_401_even_where_a_token_is_optional,
    a_bearer_token_is_accepted_like_a_token,
);
