//! Articles, the feed and favorites.
//! Spec: <https://realworld-docs.netlify.app/specifications/backend/endpoints/#list-articles>

use serde::Deserialize;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};
use warp::Filter;

use super::extract::{
    auth, body, parse_json, raw_query, required, AuthResult, BodyResult, QueryPairs, Segment,
};
use super::{enveloped, json, respond, with_ctx, ApiError, Ctx};
use crate::domain::article::{ArticleChanges, ArticleFilter, NewArticle, Page};
use crate::domain::views::ArticleView;
use crate::store;

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

pub fn routes(ctx: Ctx) -> BoxedFilter<(Response,)> {
    let limit = ctx.max_body_bytes;
    // GET /api/articles/feed: listed before /articles/{slug}, which would
    // otherwise take "feed" as a slug (slugify never produces "feed").
    let feed = warp::path!("articles" / "feed")
        .and(warp::get())
        .and(raw_query())
        .and(auth(ctx.clone()))
        .and(with_ctx(ctx.clone()))
        .then(feed)
        .map(respond);
    // GET /api/articles
    let list = warp::path!("articles")
        .and(warp::get())
        .and(raw_query())
        .and(auth(ctx.clone()))
        .and(with_ctx(ctx.clone()))
        .then(list_articles)
        .map(respond);
    // POST /api/articles
    let create = warp::path!("articles")
        .and(warp::post())
        .and(body(limit))
        .and(auth(ctx.clone()))
        .and(with_ctx(ctx.clone()))
        .then(create_article)
        .map(respond);
    // GET /api/articles/{slug}
    let get = warp::path!("articles" / Segment)
        .and(warp::get())
        .and(auth(ctx.clone()))
        .and(with_ctx(ctx.clone()))
        .then(get_article)
        .map(respond);
    // PUT /api/articles/{slug}
    let update = warp::path!("articles" / Segment)
        .and(warp::put())
        .and(body(limit))
        .and(auth(ctx.clone()))
        .and(with_ctx(ctx.clone()))
        .then(update_article)
        .map(respond);
    // DELETE /api/articles/{slug}
    let delete = warp::path!("articles" / Segment)
        .and(warp::delete())
        .and(auth(ctx.clone()))
        .and(with_ctx(ctx.clone()))
        .then(delete_article)
        .map(respond);
    // POST /api/articles/{slug}/favorite
    let favorite = warp::path!("articles" / Segment / "favorite")
        .and(warp::post())
        .and(auth(ctx.clone()))
        .and(with_ctx(ctx.clone()))
        .then(favorite)
        .map(respond);
    // DELETE /api/articles/{slug}/favorite
    let unfavorite = warp::path!("articles" / Segment / "favorite")
        .and(warp::delete())
        .and(auth(ctx.clone()))
        .and(with_ctx(ctx))
        .then(unfavorite)
        .map(respond);
    feed.or(list)
        .unify()
        .or(create)
        .unify()
        .or(get)
        .unify()
        .or(update)
        .unify()
        .or(delete)
        .unify()
        .or(favorite)
        .unify()
        .or(unfavorite)
        .unify()
        .boxed()
}

/// GET /api/articles/feed: articles by followed authors, newest first.
async fn feed(query: String, auth: AuthResult, ctx: Ctx) -> Result<Response, ApiError> {
    let caller = required(auth)?.id();
    let query = QueryPairs::parse(&query)?;
    let page =
        Page::parse(query.get("limit"), query.get("offset")).map_err(ApiError::Unprocessable)?;
    let articles = ctx.db.run(move |store| store.feed(caller, page)).await?;
    Ok(json(StatusCode::OK, &articles))
}

/// GET /api/articles: newest first, filtered by `tag`, `author`, `favorited`.
async fn list_articles(query: String, auth: AuthResult, ctx: Ctx) -> Result<Response, ApiError> {
    let viewer = auth?.map(|a| a.id());
    let query = QueryPairs::parse(&query)?;
    let page =
        Page::parse(query.get("limit"), query.get("offset")).map_err(ApiError::Unprocessable)?;
    let filter = ArticleFilter {
        tag: query.get("tag").map(str::to_owned),
        author: query.get("author").map(str::to_owned),
        favorited: query.get("favorited").map(str::to_owned),
    };
    let articles = ctx
        .db
        .run(move |store| store.list_articles(viewer, &filter, page))
        .await?;
    Ok(json(StatusCode::OK, &articles))
}

/// POST /api/articles: 201; the slug comes from the title.
async fn create_article(
    body: BodyResult,
    auth: AuthResult,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let body = body?;
    let caller = required(auth)?.id();
    let dto: ArticleEnvelope<ArticleDto> = parse_json(&body)?;
    let a = dto.article;
    let article = NewArticle::parse(
        a.title.as_deref(),
        a.description.as_deref(),
        a.body.as_deref(),
        a.tag_list.as_deref(),
    )
    .map_err(ApiError::Unprocessable)?;
    let view = ctx
        .db
        .run(move |s| store::create_article(s, caller, &article))
        .await?;
    Ok(article_reply(StatusCode::CREATED, &view))
}

/// GET /api/articles/{slug}
async fn get_article(slug: Segment, auth: AuthResult, ctx: Ctx) -> Result<Response, ApiError> {
    let viewer = auth?.map(|a| a.id());
    let view = ctx
        .db
        .run(move |store| store.article(viewer, &slug.0))
        .await
        .map_err(ApiError::store("article"))?;
    Ok(article_reply(StatusCode::OK, &view))
}

/// PUT /api/articles/{slug}: author only; a new title gives a new slug.
async fn update_article(
    slug: Segment,
    body: BodyResult,
    auth: AuthResult,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let body = body?;
    let caller = required(auth)?.id();
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
            let slug = slug.0.clone();
            ctx.db
                .run(move |store| store.check_article_editor(caller, &slug))
                .await
                .map_err(ApiError::store("article"))?;
            return Err(invalid);
        }
    };
    let view = ctx
        .db
        .run(move |s| store::update_article(s, caller, &slug.0, &changes))
        .await
        .map_err(ApiError::store("article"))?;
    Ok(article_reply(StatusCode::OK, &view))
}

/// DELETE /api/articles/{slug}: author only; 204.
async fn delete_article(slug: Segment, auth: AuthResult, ctx: Ctx) -> Result<Response, ApiError> {
    let caller = required(auth)?.id();
    ctx.db
        .run(move |store| store.delete_article(caller, &slug.0))
        .await
        .map_err(ApiError::store("article"))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// POST /api/articles/{slug}/favorite: idempotent.
async fn favorite(slug: Segment, auth: AuthResult, ctx: Ctx) -> Result<Response, ApiError> {
    let caller = required(auth)?.id();
    let view = ctx
        .db
        .run(move |store| store.favorite(caller, &slug.0))
        .await
        .map_err(ApiError::store("article"))?;
    Ok(article_reply(StatusCode::OK, &view))
}

/// DELETE /api/articles/{slug}/favorite: idempotent.
async fn unfavorite(slug: Segment, auth: AuthResult, ctx: Ctx) -> Result<Response, ApiError> {
    let caller = required(auth)?.id();
    let view = ctx
        .db
        .run(move |store| store.unfavorite(caller, &slug.0))
        .await
        .map_err(ApiError::store("article"))?;
    Ok(article_reply(StatusCode::OK, &view))
}
