//! The HTTP API under `/api`, built with warp.
//!
//! [`routes`] mounts one filter per resource module (users, profiles,
//! articles, comments, tags), then a fallback that answers 404 or 405 with
//! an `Allow` header, then CORS and logging. Handlers return
//! `Result<Response, ApiError>`: application errors are replies, never
//! rejections.

pub mod client;
pub mod error;
pub mod extract;
pub mod ops;
pub mod rejection;

mod articles;
mod comments;
mod profiles;
mod tags;
mod users;

use std::convert::Infallible;
use std::sync::Arc;

use serde::Serialize;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};
use warp::Filter;

pub use error::ApiError;

use std::sync::atomic::AtomicBool;

use crate::auth::jwt::Tokens;
use crate::auth::limits::Limits;
use crate::auth::password::Passwords;
use crate::store::Db;

/// What every handler may use; cheap to clone.
#[derive(Clone)]
pub struct Ctx {
    pub db: Db,
    pub tokens: Arc<Tokens>,
    pub passwords: Passwords,
    pub limits: Arc<Limits>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: u64,
    /// Set once shutdown begins: `/readyz` then fails so traffic moves away.
    pub draining: Arc<AtomicBool>,
    /// The schema version this release needs (readiness checks it).
    pub schema_needed: i64,
}

/// Hands the shared context to a handler.
pub(crate) fn with_ctx(ctx: Ctx) -> impl Filter<Extract = (Ctx,), Error = Infallible> + Clone {
    warp::any().map(move || ctx.clone())
}

/// A JSON response with `status`.
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    warp::reply::with_status(warp::reply::json(value), status).into_response()
}

/// `{"<key>": value}` with `status`, serialized straight from `value`
/// (no intermediate JSON tree).
pub(crate) fn enveloped<T: Serialize>(
    status: StatusCode,
    key: &'static str,
    value: &T,
) -> Response {
    json(status, &Envelope { key, value })
}

struct Envelope<'a, T> {
    key: &'static str,
    value: &'a T,
}

impl<T: Serialize> Serialize for Envelope<'_, T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.key, self.value)?;
        map.end()
    }
}

/// Renders a handler's result, error or not.
pub(crate) fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(Reply::into_response)
}

fn into_response<R: Reply>(reply: R) -> Response {
    reply.into_response()
}

/// Options for CORS, from configuration: `*` or a list of origins.
pub struct CorsOrigins(pub Vec<String>);

/// Every route of the service. `/metrics` is among them unless it is
/// served on its own address.
pub fn routes(ctx: Ctx, cors: &CorsOrigins, with_metrics: bool) -> BoxedFilter<(Response,)> {
    let operations = ops::routes(ctx.clone(), with_metrics);
    let api = warp::path("api").and(
        users::routes(ctx.clone())
            .or(profiles::routes(ctx.clone()))
            .unify()
            // articles owns /articles/feed before /articles/{slug}
            .or(articles::routes(ctx.clone()))
            .unify()
            .or(comments::routes(ctx.clone()))
            .unify()
            .or(tags::routes(ctx))
            .unify(),
    );
    let mut cors_filter = warp::cors()
        .allow_methods(["GET", "POST", "PUT", "DELETE", "OPTIONS"])
        .allow_headers([
            "authorization",
            "content-type",
            "x-requested-with",
            "x-request-id",
        ])
        // Readable by a browser client: the id to quote in a report, and
        // how long to wait after a 429 or 503.
        .expose_headers(["x-request-id", "retry-after"])
        .max_age(3600);
    cors_filter = if cors.0.iter().any(|o| o == "*") {
        cors_filter.allow_any_origin()
    } else {
        cors_filter.allow_origins(cors.0.iter().map(String::as_str))
    };
    api.or(operations)
        .unify()
        .or(rejection::fallback())
        .unify()
        .with(cors_filter)
        .recover(rejection::recover)
        .map(into_response)
        .with(warp::reply::with::default_header(
            "x-content-type-options",
            "nosniff",
        ))
        .map(into_response)
        .boxed()
}
