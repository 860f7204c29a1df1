//! Profiles and following.
//! Spec: <https://realworld-docs.netlify.app/specifications/backend/endpoints/#get-profile>

use warp::http::StatusCode;
use warp::reply::Response;

use super::reply::enveloped;
use super::route::{route, Call, Reply, Route};
use crate::domain::views::Profile;

pub const ROUTES: &[Route] = &[
    route!(GET "/api/profiles/:username" => get_profile),
    route!(POST "/api/profiles/:username/follow" => follow),
    route!(DELETE "/api/profiles/:username/follow" => unfollow),
];

fn profile_reply(profile: &Profile) -> Response {
    enveloped(StatusCode::OK, "profile", profile)
}

/// Looked up case-insensitively.
async fn get_profile(call: Call) -> Reply {
    let viewer = call.viewer().await?.map(|a| a.id());
    let username = call.param("username");
    let profile = call
        .read(move |store| store.profile(viewer, &username))
        .await?;
    Ok(profile_reply(&profile))
}

/// Idempotent; 422 for yourself.
async fn follow(call: Call) -> Reply {
    let caller = call.caller().await?.id();
    let username = call.param("username");
    let profile = call
        .ctx
        .db
        .run(move |store| store.follow(caller, &username))
        .await?;
    Ok(profile_reply(&profile))
}

/// Idempotent.
async fn unfollow(call: Call) -> Reply {
    let caller = call.caller().await?.id();
    let username = call.param("username");
    let profile = call
        .ctx
        .db
        .run(move |store| store.unfollow(caller, &username))
        .await?;
    Ok(profile_reply(&profile))
}
