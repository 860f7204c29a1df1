//! The pages, one module each, with the form posts they answer.

pub mod account;
pub mod article;
pub mod editor;
pub mod home;
pub mod profile;
pub mod search;

use warp::reply::Response;

use super::render::{respond, Method};
use super::session::Session;
use crate::http::route::{Call, Miss};
use crate::http::ApiError;

/// A path no page serves (404), or a page asked for with a method it does
/// not take (405, such as `/logout` typed into the address bar): an error
/// page, like every other answer on a page path.
pub(in crate::web) async fn miss(call: Call, miss: Miss) -> Response {
    let error = match miss {
        Miss::Unknown => ApiError::NotFound(format!("there is no page at {}", call.path())),
        Miss::WrongMethod(allow) => ApiError::MethodNotAllowed(allow),
    };
    let session = Session::of(&call)
        .await
        .unwrap_or_else(|_| Session::guest());
    respond(&call, Method::Show, &session, Err(error))
}
