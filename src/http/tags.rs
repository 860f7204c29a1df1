//! Tags in use. Spec: <https://realworld-docs.netlify.app/specifications/backend/endpoints/#get-tags>

use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::extract::{auth, AuthResult};
use super::{enveloped, respond, with_ctx, ApiError, Ctx};

pub fn routes(ctx: Ctx) -> BoxedFilter<(Response,)> {
    // GET /api/tags
    warp::path!("tags")
        .and(warp::get())
        .and(auth(ctx.clone()))
        .and(with_ctx(ctx))
        .then(list_tags)
        .map(respond)
        .boxed()
}

/// GET /api/tags: tags of at least one article, most used first, then by name.
async fn list_tags(auth: AuthResult, ctx: Ctx) -> Result<Response, ApiError> {
    auth?;
    let tags = ctx.db.run(|store| store.tags()).await?;
    Ok(enveloped(StatusCode::OK, "tags", &tags))
}
