//! The HTTP API under `/api`, built with warp.
//!
//! Each resource module (users, profiles, articles, comments, tags, the
//! contract, ops) lists its endpoints in a route table, one line each ([`route`]);
//! [`routes`] serves the tables through one dispatcher that also answers
//! 404, and 405 with an `Allow` header derived from the same tables, then
//! adds CORS. Every other path belongs to the web app ([`Site`]), whose
//! pages are served by the same dispatcher from their own table, outside
//! CORS.
//! Handlers return `Result<Response, ApiError>`: application errors are
//! replies, never rejections.

pub mod client;
pub mod conditional;
pub mod contract;
pub mod error;
pub mod extract;
pub mod ops;
pub mod rejection;
pub mod route;
pub mod site;

mod articles;
mod comments;
mod profiles;
mod tags;
pub mod users;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use serde::Serialize;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, Method, StatusCode};
use warp::path::FullPath;
use warp::reply::{Reply, Response};
use warp::Filter;

pub use error::ApiError;
use route::{Call, Handler, Resolved, Table};

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
    /// The web app's base path and cookie policy.
    pub site: site::SiteConfig,
}

/// Every endpoint, in matching order; `/metrics` last, so the API's
/// address can serve all but it when metrics have an address of their own.
const GROUPS: &[&[route::Route]] = &[
    users::ROUTES,
    profiles::ROUTES,
    articles::ROUTES,
    comments::ROUTES,
    tags::ROUTES,
    contract::ROUTES,
    ops::PROBES,
    ops::METRICS,
];

/// Every endpoint (also what labels metrics and logs).
pub const ALL: Table = Table(GROUPS);

/// The API's address when `/metrics` is served on an address of its own.
const WITHOUT_METRICS: Table = match GROUPS.split_last() {
    Some((_metrics, rest)) => Table(rest),
    None => Table(GROUPS),
};

/// `metrics_listen`'s address.
const METRICS_ONLY: Table = Table(&[ops::METRICS]);

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

fn into_response<R: Reply>(reply: R) -> Response {
    reply.into_response()
}

/// The web app's part of the service, supplied by the layer that renders
/// pages: its routes, its answer for an unknown page, and what it adds to
/// every page's response (security headers).
#[derive(Clone, Copy)]
pub struct Site {
    pub pages: Table,
    pub not_found: Handler,
    pub finish: fn(Response) -> Response,
}

/// What one listener serves: the filter that answers, and the route tables
/// whose templates label its requests in metrics and logs.
#[derive(Clone)]
pub struct Served {
    pub filter: BoxedFilter<(Response,)>,
    pub tables: Vec<Table>,
}

impl Served {
    /// The route template of a request, or `None` for an unknown path.
    pub fn label(&self, method: &Method, path: &str) -> Option<&'static str> {
        self.tables
            .iter()
            .find_map(|table| table.template(method, path))
    }
}

/// Paths the API answers, as JSON, even when nothing serves them there
/// (`/api/...`, and the operations endpoints): everything else is a page.
fn is_api_path(path: &str) -> bool {
    path == "/api"
        || path.starts_with("/api/")
        || !matches!(ALL.resolve(&Method::GET, path), Resolved::Unknown)
}

/// The API's answer for a path it does not know.
const NO_RESOURCE: Handler = |call| {
    Box::pin(async move {
        Err(ApiError::NotFound(format!(
            "no resource at {}",
            call.path()
        )))
    })
};

/// Serves `table`: the matching route's handler, else 405 with the path's
/// methods, else `unknown`.
fn dispatch(
    ctx: Arc<Ctx>,
    table: Table,
    unknown: Handler,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .and(warp::ext::optional::<client::ClientAddr>())
        .then(
            move |method: Method, path: FullPath, query, headers: HeaderMap, body, client| {
                let ctx = Arc::clone(&ctx);
                async move {
                    let (handler, params) = match table.resolve(&method, path.as_str()) {
                        Resolved::Found(route, params) => (route.handler, params),
                        Resolved::WrongMethod(allow) => {
                            return ApiError::MethodNotAllowed(allow).into_response();
                        }
                        Resolved::Unknown => (unknown, Vec::new()),
                    };
                    let path = path.as_str().to_owned();
                    let call = Call::new(ctx, path, params, query, headers, body, client);
                    handler(call).await.unwrap_or_else(Reply::into_response)
                }
            },
        )
}

/// `/metrics` alone, for `metrics_listen`.
pub fn metrics_routes(ctx: Ctx) -> Served {
    let filter = dispatch(Arc::new(ctx), METRICS_ONLY, NO_RESOURCE)
        .recover(rejection::recover)
        .map(into_response)
        .boxed();
    Served {
        filter,
        tables: vec![METRICS_ONLY],
    }
}

/// Options for CORS, from configuration: `*` or a list of origins.
pub struct CorsOrigins(pub Vec<String>);

/// Every route of the service: the API, and the web app's pages on every
/// other path. `/metrics` is among them unless it is served on its own
/// address.
pub fn routes(ctx: Ctx, cors: &CorsOrigins, with_metrics: bool, site: Site) -> Served {
    let table = if with_metrics { ALL } else { WITHOUT_METRICS };
    let mut cors_filter = warp::cors()
        .allow_methods(["GET", "POST", "PUT", "DELETE", "OPTIONS"])
        .allow_headers([
            "authorization",
            "content-type",
            "x-requested-with",
            "x-request-id",
            "if-none-match",
        ])
        // Readable by a browser client: the id to quote in a report, how
        // long to wait after a 429 or 503, and the tag to revalidate with.
        .expose_headers(["x-request-id", "retry-after", "etag"])
        .max_age(3600);
    cors_filter = if cors.0.iter().any(|o| o == "*") {
        cors_filter.allow_any_origin()
    } else {
        cors_filter.allow_origins(cors.0.iter().map(String::as_str))
    };
    let ctx = Arc::new(ctx);
    let api = dispatch(Arc::clone(&ctx), table, NO_RESOURCE)
        .with(cors_filter)
        .recover(rejection::recover)
        .map(into_response);
    // Pages are not CORS resources: a page's own forms post with an
    // `Origin` that a strict CORS list would refuse. They check it
    // themselves.
    let pages = warp::path::full()
        .and_then(|path: FullPath| async move {
            if is_api_path(path.as_str()) {
                Err(warp::reject::not_found())
            } else {
                Ok(())
            }
        })
        .untuple_one()
        .and(dispatch(ctx, site.pages, site.not_found))
        .map(site.finish);
    let filter = pages
        .or(api)
        .unify()
        .with(warp::reply::with::default_header(
            "x-content-type-options",
            "nosniff",
        ))
        .map(into_response)
        .boxed();
    Served {
        filter,
        tables: vec![table, site.pages],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(path: &str) -> Option<String> {
        match ALL.resolve(&Method::PATCH, path) {
            Resolved::WrongMethod(allow) => Some(allow),
            Resolved::Found(..) => panic!("nothing serves PATCH"),
            Resolved::Unknown => None,
        }
    }

    #[test]
    fn known_paths_list_their_methods() {
        let cases = [
            ("/api/users", Some("POST")),
            ("/api/user", Some("GET, HEAD, PUT")),
            ("/api/profiles/jake/follow", Some("POST, DELETE")),
            ("/api/articles", Some("GET, HEAD, POST")),
            ("/api/articles/feed", Some("GET, HEAD, PUT, DELETE")),
            ("/api/articles/how-to/comments/7", Some("DELETE")),
            ("/api/tags", Some("GET, HEAD")),
            ("/metrics", Some("GET, HEAD")),
            ("/api/nothing", None),
            ("/api/articles/a/b/c/d", None),
            ("/api/articles/", Some("GET, HEAD, POST")),
            ("/api/articles//", None),
        ];
        for (path, expected) in cases {
            assert_eq!(allow(path).as_deref(), expected, "{path}");
        }
    }

    #[test]
    fn requests_are_labelled_with_their_route_template() {
        let cases = [
            (
                Method::DELETE,
                "/api/articles/how-to/comments/7",
                Some("/api/articles/:slug/comments/:id"),
            ),
            (
                Method::GET,
                "/api/profiles/jake",
                Some("/api/profiles/:username"),
            ),
            (
                Method::GET,
                "/api/articles/feed",
                Some("/api/articles/feed"),
            ),
            (
                Method::PUT,
                "/api/articles/feed",
                Some("/api/articles/:slug"),
            ),
            (Method::PATCH, "/api/tags", Some("/api/tags")),
            (Method::GET, "/api/nothing", None),
        ];
        for (method, path, template) in cases {
            assert_eq!(ALL.template(&method, path), template, "{method} {path}");
        }
    }

    #[test]
    fn no_two_routes_share_a_method_and_template() {
        let mut seen = std::collections::HashSet::new();
        for route in ALL.routes() {
            assert!(
                seen.insert((route.verb, route.template)),
                "{:?} {} is listed twice",
                route.verb,
                route.template
            );
        }
        assert_eq!(
            seen.len(),
            23,
            "19 RealWorld endpoints, the contract, 3 operations endpoints"
        );
    }
}
