//! Articles: create, read, update, delete, the lists with their filters and
//! paging, favorites and the feed.
//!
//! One file per operation; the fixtures they share live here.

mod create;
mod delete;
mod favorites;
mod feed;
mod lists;
mod read;
mod slugs;
mod tokens;
mod update;

use std::collections::{HashMap, HashSet};

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
