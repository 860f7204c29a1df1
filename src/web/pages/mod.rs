//! The pages, one module each, with the form posts they answer.

pub mod account;
pub mod article;
pub mod editor;
pub mod home;
pub mod profile;

use warp::reply::Response;

use super::render::page;
use super::session::Session;
use crate::http::route::Call;
use crate::http::ApiError;

page!(pub(in crate::web) not_found => show_not_found);

/// Any path that no page serves.
async fn show_not_found(call: &mut Call, _session: &Session) -> Result<Response, ApiError> {
    Err(ApiError::NotFound(format!(
        "there is no page at {}",
        call.path()
    )))
}
