//! Readers beyond the app: full-text search, Atom feeds, and what crawlers
//! and link previews read (robots.txt, the sitemap, card tags).

mod feeds;
mod previews;
mod search;

use serde_json::{json, Value};

use crate::helpers::*;

/// Creates an article with exactly these fields; returns its JSON.
async fn write(
    app: &TestApp,
    author: &TestUser,
    title: &str,
    description: &str,
    body: &str,
    tags: &[&str],
) -> Value {
    let resp = app
        .post(
            "/api/articles",
            Some(&author.token),
            json!({"article": {
                "title": title, "description": description, "body": body, "tagList": tags,
            }}),
        )
        .await;
    assert_eq!(resp.status, 201, "creating {title}: {:?}", resp.body);
    resp.body["article"].clone()
}

/// A page's or document's text, with its status and headers.
async fn fetch(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = app.client.get(app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.expect("body"))
}
