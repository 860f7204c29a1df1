//! Tags in use. Spec: <https://realworld-docs.netlify.app/specifications/backend/endpoints/#get-tags>

use warp::http::StatusCode;

use super::reply::enveloped;
use super::route::{route, Call, Reply, Route};

pub const ROUTES: &[Route] = &[route!(GET "/api/tags" => list_tags)];

/// Tags of at least one article, most used first, then by name.
async fn list_tags(call: Call) -> Reply {
    call.viewer().await?;
    let tags = call.read(|store| store.tags()).await?;
    Ok(enveloped(StatusCode::OK, "tags", &tags))
}
