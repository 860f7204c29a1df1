//! The HTTP API under `/api`, built with warp, and the dispatcher that
//! serves it and the web app's pages.
//!
//! This file holds only what dispatches: the route tables in matching
//! order, [`routes`], and the answer to a path or method no route serves
//! (404, and 405 with an `Allow` header derived from the same tables).
//! Every path the API does not know belongs to the web app ([`Site`]),
//! whose pages are served by the same dispatcher from their own table.
//!
//! - Resources, one module each with its route table, one line per
//!   endpoint ([`route`]): users, profiles, articles, comments, tags, the
//!   contract, ops.
//! - Shared by them and by the pages: [`context`] (what every handler may
//!   use), [`reply`] (JSON replies), [`error`] (the one error type),
//!   [`extract`] (body, caller, query), [`account`] (signing up, in and
//!   out, changing an account).
//! - Around every request, applied by the server: [`cors`], [`conditional`]
//!   (revalidation), [`client`] (who is asking).
//!
//! Handlers return `Result<Response, ApiError>`: application errors are
//! replies, never rejections.

pub mod account;
pub mod client;
pub mod conditional;
pub mod context;
pub mod contract;
pub mod cors;
pub mod error;
pub mod extract;
pub mod freshness;
pub mod ops;
pub mod rejection;
pub mod reply;
pub mod route;
pub mod site;

mod articles;
mod comments;
mod profiles;
mod tags;
mod users;

use std::sync::Arc;

use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, Method};
use warp::path::FullPath;
use warp::reply::{Reply, Response};
use warp::Filter;

pub use context::Ctx;
use cors::{Cors, Verdict};
pub use error::ApiError;
use route::{Call, Miss, MissHandler, Resolved, Table, Verb};

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

fn into_response<R: Reply>(reply: R) -> Response {
    reply.into_response()
}

/// The web app's part of the service, supplied by the layer that renders
/// pages: its routes, its answer for a path or method no page serves, and
/// what it adds to every page's response (security headers).
#[derive(Clone, Copy)]
pub struct Site {
    pub pages: Table,
    pub miss: MissHandler,
    pub finish: fn(Response) -> Response,
}

/// What one listener serves: the filter that answers, the route tables
/// whose templates label its requests in metrics and logs, and the CORS
/// policy of its API paths.
#[derive(Clone)]
pub struct Served {
    pub filter: BoxedFilter<(Response,)>,
    pub tables: Vec<Table>,
    pub cors: Option<Cors>,
}

impl Served {
    /// The CORS verdict on a request; pages are not CORS resources (a
    /// page's own forms post with an `Origin` that a strict list would
    /// refuse, and they check it themselves).
    pub fn cors(&self, method: &Method, path: &str, headers: &HeaderMap) -> Verdict {
        match &self.cors {
            Some(cors) if is_api_path(path) => cors.check(method, headers),
            _ => Verdict::NotCors,
        }
    }

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

/// The API's answer for a path it does not know, or a method a path does
/// not take (with `Allow`).
const API_MISS: MissHandler = |call, miss| {
    Box::pin(async move {
        match miss {
            Miss::Unknown => ApiError::NotFound(format!("no resource at {}", call.path())),
            Miss::WrongMethod(allow) => ApiError::MethodNotAllowed(allow),
        }
        .into_response()
    })
};

/// Serves `table`: the matching route's handler, else `miss` (405 with the
/// path's methods, or 404).
fn dispatch(
    ctx: Arc<Ctx>,
    table: Table,
    miss: MissHandler,
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
                    let (route, params) = match table.resolve(&method, path.as_str()) {
                        Resolved::Found(route, params) => (Ok(route), params),
                        Resolved::WrongMethod(allow) => (Err(Miss::WrongMethod(allow)), Vec::new()),
                        Resolved::Unknown => (Err(Miss::Unknown), Vec::new()),
                    };
                    let path = path.as_str().to_owned();
                    let call = Call::new(ctx, path, params, query, headers, body, client);
                    match route {
                        Ok(route) => {
                            let ctx = Arc::clone(&call.ctx);
                            let client = call.client_addr();
                            let stamp = route.verb != Verb::Get;
                            let mut response = (route.handler)(call)
                                .await
                                .unwrap_or_else(Reply::into_response);
                            let status = response.status();
                            if stamp && (status.is_success() || status.is_redirection()) {
                                freshness::stamp(&ctx, client, &mut response).await;
                            }
                            response
                        }
                        Err(why) => miss(call, why).await,
                    }
                }
            },
        )
}

/// `/metrics` alone, for `metrics_listen`.
pub fn metrics_routes(ctx: Ctx) -> Served {
    let filter = dispatch(Arc::new(ctx), METRICS_ONLY, API_MISS)
        .recover(rejection::recover)
        .map(into_response)
        .boxed();
    Served {
        filter,
        tables: vec![METRICS_ONLY],
        cors: None,
    }
}

/// Every route of the service: the API, and the web app's pages on every
/// other path. `/metrics` is among them unless it is served on its own
/// address. `cors` is applied by the server to the API's paths.
pub fn routes(ctx: Ctx, cors: Cors, with_metrics: bool, site: Site) -> Served {
    let table = if with_metrics { ALL } else { WITHOUT_METRICS };
    let ctx = Arc::new(ctx);
    let api = dispatch(Arc::clone(&ctx), table, API_MISS)
        .recover(rejection::recover)
        .map(into_response);
    let pages = warp::path::full()
        .and_then(|path: FullPath| async move {
            if is_api_path(path.as_str()) {
                Err(warp::reject::not_found())
            } else {
                Ok(())
            }
        })
        .untuple_one()
        .and(dispatch(ctx, site.pages, site.miss))
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
        cors: Some(cors),
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
