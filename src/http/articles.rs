//! Articles, the feed and favorites.
//! Spec: <https://realworld-docs.netlify.app/specifications/backend/endpoints/#list-articles>

use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::{Reply as _, Response};

use super::error::ApiError;
use super::extract::parse_json;
use super::reply::{enveloped, json};
use super::route::{route, Call, Reply, Route};
use crate::domain::article::{ArticleChanges, ArticleFilter, NewArticle, Page};
use crate::domain::search::SearchQuery;
use crate::domain::views::ArticleView;
use crate::store;

/// `/articles/feed` comes before `/articles/:slug`, which would otherwise
/// take "feed" as a slug (slugify never produces "feed").
pub const ROUTES: &[Route] = &[
    route!(GET "/api/articles/feed" => feed),
    route!(GET "/api/articles" => list_articles),
    route!(POST "/api/articles" => create_article),
    route!(GET "/api/articles/:slug" => get_article),
    route!(PUT "/api/articles/:slug" => update_article),
    route!(DELETE "/api/articles/:slug" => delete_article),
    route!(POST "/api/articles/:slug/favorite" => favorite),
    route!(DELETE "/api/articles/:slug/favorite" => unfavorite),
];

#[derive(Deserialize)]
struct ArticleEnvelope<T> {
    article: T,
}

/// Fields of both create and update; which are required is the domain's call.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArticleDto {
    title: Option<String>,
    description: Option<String>,
    body: Option<String>,
    tag_list: Option<Vec<String>>,
}

fn article_reply(status: StatusCode, article: &ArticleView) -> Response {
    enveloped(status, "article", article)
}

/// Articles by followed authors, newest first.
async fn feed(call: Call) -> Reply {
    let caller = call.caller().await?.id();
    let query = call.query()?;
    let page =
        Page::parse(query.get("limit"), query.get("offset")).map_err(ApiError::Unprocessable)?;
    let articles = call.read(move |store| store.feed(caller, page)).await?;
    Ok(json(StatusCode::OK, &articles))
}

/// Newest first, filtered by `tag`, `author`, `favorited`.
async fn list_articles(call: Call) -> Reply {
    let viewer = call.viewer().await?.map(|a| a.id());
    let query = call.query()?;
    let page =
        Page::parse(query.get("limit"), query.get("offset")).map_err(ApiError::Unprocessable)?;
    let filter = ArticleFilter {
        tag: query.get("tag").map(str::to_owned),
        author: query.get("author").map(str::to_owned),
        favorited: query.get("favorited").map(str::to_owned),
    };
    // `q` (Conduit's extension): a full-text search instead of a list.
    if let Some(raw) = query.get("q") {
        if filter != ArticleFilter::default() {
            return Err(ApiError::Unprocessable(vec![
                "q can't be combined with tag, author or favorited".into(),
            ]));
        }
        let search = SearchQuery::parse(raw).map_err(|e| ApiError::Unprocessable(vec![e]))?;
        let articles = call
            .read(move |store| store.search_articles(viewer, &search, page))
            .await?;
        return Ok(json(StatusCode::OK, &articles));
    }
    let articles = call
        .read(move |store| store.list_articles(viewer, &filter, page))
        .await?;
    Ok(json(StatusCode::OK, &articles))
}

/// 201; the slug comes from the title.
async fn create_article(mut call: Call) -> Reply {
    let body = call.body().await?;
    let caller = call.caller().await?.id();
    let dto: ArticleEnvelope<ArticleDto> = parse_json(&body)?;
    let a = dto.article;
    let article = NewArticle::parse(
        a.title.as_deref(),
        a.description.as_deref(),
        a.body.as_deref(),
        a.tag_list.as_deref(),
    )
    .map_err(ApiError::Unprocessable)?;
    let view = call
        .ctx
        .db
        .run(move |s| store::create_article(s, caller, &article))
        .await?;
    Ok(article_reply(StatusCode::CREATED, &view))
}

async fn get_article(call: Call) -> Reply {
    let viewer = call.viewer().await?.map(|a| a.id());
    let slug = call.param("slug");
    let view = call.read(move |store| store.article(viewer, &slug)).await?;
    Ok(article_reply(StatusCode::OK, &view))
}

/// Author only; a new title gives a new slug.
async fn update_article(mut call: Call) -> Reply {
    let body = call.body().await?;
    let caller = call.caller().await?.id();
    let slug = call.param("slug");
    let changes = parse_json::<ArticleEnvelope<ArticleDto>>(&body).and_then(|dto| {
        let a = dto.article;
        ArticleChanges::parse(
            a.title.as_deref(),
            a.description.as_deref(),
            a.body.as_deref(),
            a.tag_list.as_deref(),
        )
        .map_err(ApiError::Unprocessable)
    });
    let changes = match changes {
        Ok(changes) => changes,
        Err(invalid) => {
            // 404 and 403 outrank 422: look before blaming the body.
            call.ctx
                .db
                .run(move |store| store.check_article_editor(caller, &slug))
                .await?;
            return Err(invalid);
        }
    };
    let view = call
        .ctx
        .db
        .run(move |s| store::update_article(s, caller, &slug, &changes))
        .await?;
    Ok(article_reply(StatusCode::OK, &view))
}

/// Author only; 204.
async fn delete_article(call: Call) -> Reply {
    let caller = call.caller().await?.id();
    let slug = call.param("slug");
    call.ctx
        .db
        .run(move |store| store.delete_article(caller, &slug))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Idempotent.
async fn favorite(call: Call) -> Reply {
    let caller = call.caller().await?.id();
    let slug = call.param("slug");
    let view = call
        .ctx
        .db
        .run(move |store| store.favorite(caller, &slug))
        .await?;
    Ok(article_reply(StatusCode::OK, &view))
}

/// Idempotent.
async fn unfavorite(call: Call) -> Reply {
    let caller = call.caller().await?.id();
    let slug = call.param("slug");
    let view = call
        .ctx
        .db
        .run(move |store| store.unfavorite(caller, &slug))
        .await?;
    Ok(article_reply(StatusCode::OK, &view))
}
