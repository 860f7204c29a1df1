//! Profiles and following.
//! Spec: <https://realworld-docs.netlify.app/specifications/backend/endpoints/#get-profile>

use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::Filter;

use super::extract::{auth, required, AuthResult, Segment};
use super::{enveloped, respond, with_ctx, ApiError, Ctx};
use crate::domain::views::Profile;

fn profile_reply(profile: &Profile) -> Response {
    enveloped(StatusCode::OK, "profile", profile)
}

pub fn routes(ctx: Ctx) -> BoxedFilter<(Response,)> {
    // GET /api/profiles/{username}
    let get = warp::path!("profiles" / Segment)
        .and(warp::get())
        .and(auth(ctx.clone()))
        .and(with_ctx(ctx.clone()))
        .then(get_profile)
        .map(respond);
    // POST /api/profiles/{username}/follow
    let follow = warp::path!("profiles" / Segment / "follow")
        .and(warp::post())
        .and(auth(ctx.clone()))
        .and(with_ctx(ctx.clone()))
        .then(follow)
        .map(respond);
    // DELETE /api/profiles/{username}/follow
    let unfollow = warp::path!("profiles" / Segment / "follow")
        .and(warp::delete())
        .and(auth(ctx.clone()))
        .and(with_ctx(ctx))
        .then(unfollow)
        .map(respond);
    get.or(follow).unify().or(unfollow).unify().boxed()
}

/// GET /api/profiles/{username}: looked up case-insensitively.
async fn get_profile(username: Segment, auth: AuthResult, ctx: Ctx) -> Result<Response, ApiError> {
    let viewer = auth?.map(|a| a.id());
    let profile = ctx
        .db
        .run(move |store| store.profile(viewer, &username.0))
        .await
        .map_err(ApiError::store("profile"))?;
    Ok(profile_reply(&profile))
}

/// POST /api/profiles/{username}/follow: idempotent; 422 for yourself.
async fn follow(username: Segment, auth: AuthResult, ctx: Ctx) -> Result<Response, ApiError> {
    let caller = required(auth)?.id();
    let profile = ctx
        .db
        .run(move |store| store.follow(caller, &username.0))
        .await
        .map_err(ApiError::store("profile"))?;
    Ok(profile_reply(&profile))
}

/// DELETE /api/profiles/{username}/follow: idempotent.
async fn unfollow(username: Segment, auth: AuthResult, ctx: Ctx) -> Result<Response, ApiError> {
    let caller = required(auth)?.id();
    let profile = ctx
        .db
        .run(move |store| store.unfollow(caller, &username.0))
        .await
        .map_err(ApiError::store("profile"))?;
    Ok(profile_reply(&profile))
}
