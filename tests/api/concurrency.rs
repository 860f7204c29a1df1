//! Many clients at once: counts stay exact and unique rules hold.

use serde_json::json;

use crate::helpers::*;

async fn concurrent_favorites_of_one_article_keep_the_count_exact(app: TestApp) {
    let author = app.register("author").await;
    let slug = app.create_article(&author, "Popular", &[]).await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut fans = Vec::new();
    for i in 0..20 {
        fans.push(app.register(&format!("fan{i}")).await);
    }
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for fan in fans.iter().cloned() {
        let (app, slug) = (app.clone(), slug.clone());
        // Each fan favorites twice: idempotence under contention.
        tasks.push(tokio::spawn(async move {
            for _ in 0..2 {
                let resp = app
                    .post(
                        &format!("/api/articles/{slug}/favorite"),
                        Some(&fan.token),
                        json!({}),
                    )
                    .await;
                assert_eq!(resp.status, 200, "{:?}", resp.body);
            }
        }));
    }
    for task in tasks {
        task.await.expect("favorite task");
    }
    let article = app
        .get(&format!("/api/articles/{slug}"), Some(&fans[0].token))
        .await;
    assert_eq!(article.body["article"]["favoritesCount"], 20);
    assert_eq!(article.body["article"]["favorited"], true);
    let anonymous = app.get("/api/articles?favorited=fan7", None).await;
    assert_eq!(anonymous.body["articlesCount"], 1);
}

async fn concurrent_registrations_of_one_username_let_exactly_one_win(app: TestApp) {
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for i in 0..12 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.post(
                "/api/users",
                None,
                json!({"user": {"username": if i % 2 == 0 { "racer" } else { "RACER" },
                                "email": format!("racer{i}@example.com"),
                                "password": "password1"}}),
            )
            .await
        }));
    }
    let mut created = 0;
    for task in tasks {
        let resp = task.await.expect("registration task");
        match resp.status {
            201 => created += 1,
            _ => resp.assert_error(
                422,
                "username has already been taken",
                "losing registration",
            ),
        }
    }
    assert_eq!(created, 1, "exactly one registration wins");
}

http_tests!(
    concurrent_favorites_of_one_article_keep_the_count_exact,
    concurrent_registrations_of_one_username_let_exactly_one_win,
);
