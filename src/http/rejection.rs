//! Warp's own rejections (CORS refusals, and anything a filter rejects)
//! as the RealWorld error body. Unknown paths and wrong methods never get
//! here: the dispatcher answers them from the route tables.

use std::convert::Infallible;

use warp::reply::{Reply, Response};
use warp::Rejection;

use super::ApiError;

/// The label for paths no route knows, so they cannot inflate metrics.
pub const UNKNOWN_ROUTE: &str = "unknown";

/// Turns warp's own rejections (CORS) into the error body.
pub async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    let error = if rejection
        .find::<warp::filters::cors::CorsForbidden>()
        .is_some()
    {
        ApiError::Forbidden("CORS request not allowed".into())
    } else {
        ApiError::NotFound("not found".into())
    };
    Ok(error.into_response())
}
