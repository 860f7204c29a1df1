//! Comments on an article.
//! Spec: <https://realworld-docs.netlify.app/specifications/backend/endpoints/#add-comments-to-an-article>

use serde::Deserialize;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};
use warp::Filter;

use super::extract::{auth, body, parse_json, required, AuthResult, BodyResult, Segment};
use super::{enveloped, respond, with_ctx, ApiError, Ctx};
use crate::domain::comment::parse_comment_body;

#[derive(Deserialize)]
struct CommentEnvelope {
    comment: CommentDto,
}

#[derive(Deserialize)]
struct CommentDto {
    body: Option<String>,
}

pub fn routes(ctx: Ctx) -> BoxedFilter<(Response,)> {
    // GET /api/articles/{slug}/comments
    let list = warp::path!("articles" / Segment / "comments")
        .and(warp::get())
        .and(auth(ctx.clone()))
        .and(with_ctx(ctx.clone()))
        .then(list_comments)
        .map(respond);
    // POST /api/articles/{slug}/comments
    let add = warp::path!("articles" / Segment / "comments")
        .and(warp::post())
        .and(body(ctx.max_body_bytes))
        .and(auth(ctx.clone()))
        .and(with_ctx(ctx.clone()))
        .then(add_comment)
        .map(respond);
    // DELETE /api/articles/{slug}/comments/{id}: the id stays a string here so
    // a non-numeric one is a 404 from the handler, not a routing miss.
    let delete = warp::path!("articles" / Segment / "comments" / String)
        .and(warp::delete())
        .and(auth(ctx.clone()))
        .and(with_ctx(ctx))
        .then(delete_comment)
        .map(respond);
    list.or(add).unify().or(delete).unify().boxed()
}

/// GET /api/articles/{slug}/comments: oldest first.
async fn list_comments(slug: Segment, auth: AuthResult, ctx: Ctx) -> Result<Response, ApiError> {
    let viewer = auth?.map(|a| a.id());
    let comments = ctx
        .db
        .run(move |store| store.comments(viewer, &slug.0))
        .await
        .map_err(ApiError::store("article"))?;
    Ok(enveloped(StatusCode::OK, "comments", &comments))
}

/// POST /api/articles/{slug}/comments: 200 with the comment.
async fn add_comment(
    slug: Segment,
    body: BodyResult,
    auth: AuthResult,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let body = body?;
    let caller = required(auth)?.id();
    let text = parse_json::<CommentEnvelope>(&body).and_then(|dto| {
        parse_comment_body(dto.comment.body.as_deref()).map_err(ApiError::Unprocessable)
    });
    let text = match text {
        Ok(text) => text,
        Err(invalid) => {
            // An unknown article (404) outranks a bad body (422).
            let slug = slug.0.clone();
            ctx.db
                .run(move |store| store.check_article_exists(&slug))
                .await
                .map_err(ApiError::store("article"))?;
            return Err(invalid);
        }
    };
    let comment = ctx
        .db
        .run(move |store| store.add_comment(caller, &slug.0, &text))
        .await
        .map_err(ApiError::store("article"))?;
    Ok(enveloped(StatusCode::OK, "comment", &comment))
}

/// DELETE /api/articles/{slug}/comments/{id}: the comment's author only; 204.
async fn delete_comment(
    slug: Segment,
    id: String,
    auth: AuthResult,
    ctx: Ctx,
) -> Result<Response, ApiError> {
    let caller = required(auth)?.id();
    let Ok(id) = id.parse::<i64>() else {
        return Err(ApiError::NotFound("comment not found".into()));
    };
    ctx.db
        .run(move |store| store.delete_comment(caller, &slug.0, id))
        .await
        .map_err(ApiError::store("comment"))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
