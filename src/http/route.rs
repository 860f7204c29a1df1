//! The route tables' vocabulary: routes, the matching of path templates,
//! and the request ([`Call`]) a handler gets.
//!
//! Each resource module lists its endpoints as one line each
//! (`route!(GET "/api/articles/:slug" => get_article)`), and everything
//! that needs to know the routes reads the same tables: the dispatcher in
//! `http/mod.rs`, the `Allow` list of a 405, and the route template that
//! labels metrics and logs. Adding an endpoint touches one line.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use warp::http::{HeaderMap, Method};
use warp::reply::Response;
use warp::Buf;

use super::client::ClientAddr;
use super::context::Ctx;
use super::error::ApiError;
use super::extract::{authenticate, read_limited, AuthResult, AuthUser, QueryPairs};

/// The methods the API serves. HEAD is answered wherever GET is (the
/// server turns it into a GET and drops the body), so it needs no routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

impl Verb {
    pub fn of(method: &Method) -> Option<Verb> {
        match *method {
            Method::GET => Some(Verb::Get),
            Method::POST => Some(Verb::Post),
            Method::PUT => Some(Verb::Put),
            Method::DELETE => Some(Verb::Delete),
            _ => None,
        }
    }
}

pub type Reply = Result<Response, ApiError>;
pub type Handler = fn(Call) -> Pin<Box<dyn Future<Output = Reply> + Send>>;

/// One endpoint: a method, a path template whose `:name` segments capture
/// one non-empty path segment each, and the handler.
pub struct Route {
    pub verb: Verb,
    pub template: &'static str,
    pub handler: Handler,
}

/// `route!(GET "/api/tags" => list_tags)`: one line of a route table.
macro_rules! route {
    (GET $template:literal => $handler:path) => {
        route!(@ Get $template, $handler)
    };
    (POST $template:literal => $handler:path) => {
        route!(@ Post $template, $handler)
    };
    (PUT $template:literal => $handler:path) => {
        route!(@ Put $template, $handler)
    };
    (DELETE $template:literal => $handler:path) => {
        route!(@ Delete $template, $handler)
    };
    (@ $verb:ident $template:literal, $handler:path) => {
        $crate::http::route::Route {
            verb: $crate::http::route::Verb::$verb,
            template: $template,
            handler: |call| Box::pin($handler(call)),
        }
    };
}
pub(crate) use route;

/// Whether `path` begins with `template`'s literal head (up to its first
/// `:`), in one pass that stops at the first difference: most templates
/// differ from a path within a few bytes.
fn starts_like(template: &str, path: &str) -> bool {
    let path = path.as_bytes();
    for (at, &byte) in template.as_bytes().iter().enumerate() {
        if byte == b':' {
            return true;
        }
        if path.get(at) != Some(&byte) {
            return false;
        }
    }
    true
}

/// Matches `path` against `template`, returning the decoded captures. A
/// capture that is not valid UTF-8 once percent-decoded does not match. One
/// trailing slash is ignored (`/api/tags/` is `/api/tags`), as warp's own
/// path filters do.
fn captures(template: &'static str, path: &str) -> Option<Vec<(&'static str, String)>> {
    // Every request is matched against every template (twice: for its
    // metrics label and to dispatch it), so most templates must be
    // rejected cheaply: a matching path starts with the template's literal
    // head, up to its first capture.
    if !starts_like(template, path) {
        return None;
    }
    let path = match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => path,
    };
    let mut wanted = template.split('/');
    let mut given = path.split('/');
    let mut params = Vec::new();
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(params),
            (Some(want), Some(segment)) => match want.strip_prefix(':') {
                Some(name) if !segment.is_empty() => {
                    let value = percent_encoding::percent_decode_str(segment)
                        .decode_utf8()
                        .ok()?;
                    params.push((name, value.into_owned()));
                }
                Some(_) => return None,
                None if want == segment => {}
                None => return None,
            },
            _ => return None,
        }
    }
}

/// What a path and method resolve to in a table.
pub enum Resolved<'t> {
    Found(&'t Route, Vec<(&'static str, String)>),
    /// The path exists, not with this method: the methods it has, for
    /// `Allow` (HEAD beside GET).
    WrongMethod(String),
    Unknown,
}

/// Why no route of a table serves a request.
pub enum Miss {
    /// No route has this path (404).
    Unknown,
    /// The path exists with other methods, listed for `Allow` (405).
    WrongMethod(String),
}

/// A table's answer to a [`Miss`]: JSON for the API, a page for the web app.
pub type MissHandler = fn(Call, Miss) -> Pin<Box<dyn Future<Output = Response> + Send>>;

/// A set of routes, first match wins (so `/api/articles/feed` is listed
/// before `/api/articles/:slug`).
#[derive(Clone, Copy)]
pub struct Table(pub &'static [&'static [Route]]);

impl Table {
    pub fn routes(self) -> impl Iterator<Item = &'static Route> {
        self.0.iter().flat_map(|group| group.iter())
    }

    pub fn resolve(self, method: &Method, path: &str) -> Resolved<'static> {
        let verb = Verb::of(method);
        let mut allowed = Vec::new();
        for route in self.routes() {
            if let Some(params) = captures(route.template, path) {
                if Some(route.verb) == verb {
                    return Resolved::Found(route, params);
                }
                allowed.push(route.verb);
            }
        }
        if allowed.is_empty() {
            return Resolved::Unknown;
        }
        allowed.sort();
        allowed.dedup();
        let names: Vec<&str> = allowed
            .iter()
            .flat_map(|verb| match verb {
                Verb::Get => &["GET", "HEAD"][..],
                Verb::Post => &["POST"],
                Verb::Put => &["PUT"],
                Verb::Delete => &["DELETE"],
            })
            .copied()
            .collect();
        Resolved::WrongMethod(names.join(", "))
    }

    /// The template that labels a request in metrics and logs: the route
    /// that serves it, else any route with that path, else `None` (unknown
    /// paths must not inflate the label set).
    pub fn template(self, method: &Method, path: &str) -> Option<&'static str> {
        let verb = Verb::of(method);
        let mut by_path = None;
        for route in self.routes() {
            if captures(route.template, path).is_some() {
                if Some(route.verb) == verb {
                    return Some(route.template);
                }
                by_path.get_or_insert(route.template);
            }
        }
        by_path
    }
}

type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, warp::Error>> + Send>>;

/// One request as a handler sees it. Handlers take what they need in the
/// policy's order (body 413, then token 401, then the lookups' 404 and 403,
/// then 422), so nothing is read or checked before its turn.
pub struct Call {
    /// Shared by every request: cloning it is one reference count.
    pub ctx: Arc<Ctx>,
    path: String,
    params: Vec<(&'static str, String)>,
    query: String,
    headers: HeaderMap,
    /// In a mutex only so that `Call` is `Sync` (handlers' futures hold
    /// `&Call` across awaits); it is taken once through `&mut self`, so
    /// never locked.
    body: Mutex<Option<BodyStream>>,
    client: Option<ClientAddr>,
}

impl Call {
    pub(super) fn new(
        ctx: Arc<Ctx>,
        path: String,
        params: Vec<(&'static str, String)>,
        query: String,
        headers: HeaderMap,
        body: impl Stream<Item = Result<impl Buf + Send, warp::Error>> + Send + 'static,
        client: Option<ClientAddr>,
    ) -> Call {
        let body = body.map(|chunk| chunk.map(|mut buf| buf.copy_to_bytes(buf.remaining())));
        Call {
            ctx,
            path,
            params,
            query,
            headers,
            body: Mutex::new(Some(Box::pin(body))),
            client,
        }
    }

    /// The request's path, as received (percent-encoded).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query string, as received (empty when there is none).
    pub fn raw_query(&self) -> &str {
        &self.query
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The decoded path segment captured by `:name` in the template.
    pub fn param(&self, name: &str) -> String {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    }

    /// The whole body, at most `max_body_bytes` (413 beyond). Read once.
    pub async fn body(&mut self) -> Result<Bytes, ApiError> {
        let body = self.body.get_mut().unwrap_or_else(|e| e.into_inner());
        match body.take() {
            Some(stream) => read_limited(&self.headers, stream, self.ctx.max_body_bytes).await,
            None => Ok(Bytes::new()),
        }
    }

    /// The caller if a token came with the request; a bad token is 401
    /// even where a token is optional.
    pub async fn viewer(&self) -> AuthResult {
        authenticate(&self.ctx, &self.headers).await
    }

    /// The caller, who must have sent a valid token (401 otherwise).
    pub async fn caller(&self) -> Result<AuthUser, ApiError> {
        self.viewer().await?.ok_or(ApiError::Unauthorized(
            "this endpoint needs a token: send 'Authorization: Token <jwt>'",
        ))
    }

    /// Runs a read-only `f` against the store: on a read replica when one
    /// has replayed what this client last wrote (see [`super::freshness`]).
    pub async fn read<T, F>(&self, f: F) -> crate::store::StoreResult<T>
    where
        F: FnOnce(&dyn crate::store::Store) -> crate::store::StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let from = super::freshness::read_from(&self.headers);
        self.ctx.db.read(from, f).await
    }

    /// Decoded query pairs (422 when the encoding is broken).
    pub fn query(&self) -> Result<QueryPairs, ApiError> {
        QueryPairs::parse(&self.query)
    }

    /// Who sent the request, when it came through the server.
    pub fn client_addr(&self) -> Option<ClientAddr> {
        self.client
    }

    /// The client's address as a limiter key (see [`super::client`]).
    /// Requests that did not come through the server (none in practice)
    /// share one key.
    pub fn client(&self) -> String {
        self.client
            .as_ref()
            .map_or_else(|| "unknown".to_owned(), |addr| addr.ip.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_capture_decoded_non_empty_segments() {
        let got = captures(
            "/api/articles/:slug/comments/:id",
            "/api/articles/a%20b/comments/7",
        );
        assert_eq!(
            got,
            Some(vec![("slug", "a b".to_owned()), ("id", "7".to_owned())])
        );
        assert_eq!(captures("/api/articles/:slug", "/api/articles/"), None);
        assert_eq!(captures("/api/articles", "/api/articles/"), Some(vec![]));
        assert_eq!(captures("/api/articles", "/api/articles//"), None);
        assert_eq!(captures("/api/articles/:slug", "/api/articles/a/b"), None);
        assert_eq!(captures("/api/articles/:slug", "/api/articles/%FF"), None);
        assert_eq!(captures("/api/tags", "/api/tags"), Some(vec![]));
    }
}
