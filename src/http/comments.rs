//! Comments on an article.
//! Spec: <https://realworld-docs.netlify.app/specifications/backend/endpoints/#add-comments-to-an-article>

use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Reply as _;

use super::error::ApiError;
use super::extract::parse_json;
use super::reply::enveloped;
use super::route::{route, Call, Reply, Route};
use crate::domain::comment::parse_comment_body;
use crate::store::{Entity, StoreError};

pub const ROUTES: &[Route] = &[
    route!(GET "/api/articles/:slug/comments" => list_comments),
    route!(POST "/api/articles/:slug/comments" => add_comment),
    route!(DELETE "/api/articles/:slug/comments/:id" => delete_comment),
];

#[derive(Deserialize)]
struct CommentEnvelope {
    comment: CommentDto,
}

#[derive(Deserialize)]
struct CommentDto {
    body: Option<String>,
}

/// Oldest first.
async fn list_comments(call: Call) -> Reply {
    let viewer = call.viewer().await?.map(|a| a.id());
    let slug = call.param("slug");
    let comments = call
        .read(move |store| store.comments(viewer, &slug))
        .await?;
    Ok(enveloped(StatusCode::OK, "comments", &comments))
}

/// 200 with the comment.
async fn add_comment(mut call: Call) -> Reply {
    let body = call.body().await?;
    let caller = call.caller().await?.id();
    let slug = call.param("slug");
    let text = parse_json::<CommentEnvelope>(&body).and_then(|dto| {
        parse_comment_body(dto.comment.body.as_deref()).map_err(ApiError::Unprocessable)
    });
    let text = match text {
        Ok(text) => text,
        Err(invalid) => {
            // An unknown article (404) outranks a bad body (422).
            call.ctx
                .db
                .run(move |store| store.check_article_exists(&slug))
                .await?;
            return Err(invalid);
        }
    };
    let comment = call
        .ctx
        .db
        .run(move |store| store.add_comment(caller, &slug, &text))
        .await?;
    Ok(enveloped(StatusCode::OK, "comment", &comment))
}

/// The comment's author only; 204. A non-numeric id names no comment.
async fn delete_comment(call: Call) -> Reply {
    let caller = call.caller().await?.id();
    let slug = call.param("slug");
    let Ok(id) = call.param("id").parse::<i64>() else {
        return Err(StoreError::NotFound(Entity::Comment).into());
    };
    call.ctx
        .db
        .run(move |store| store.delete_comment(caller, &slug, id))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
