//! Warp's own rejections (anything a filter rejects) as the RealWorld
//! error body. Unknown paths and wrong methods never get
//! here: the dispatcher answers them from the route tables.

use std::convert::Infallible;

use warp::reply::{Reply, Response};
use warp::Rejection;

use super::error::ApiError;

/// The label for paths no route knows, so they cannot inflate metrics.
pub const UNKNOWN_ROUTE: &str = "unknown";

/// Turns a rejection of warp's own filters into the error body. The routes
/// reject nothing themselves (the dispatcher answers 404 and 405), so this
/// is a safety net.
pub async fn recover(_rejection: Rejection) -> Result<Response, Infallible> {
    Ok(ApiError::NotFound("not found".into()).into_response())
}
