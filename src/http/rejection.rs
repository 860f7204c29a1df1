//! What happens when no route answers: 404 for unknown paths, 405 with an
//! `Allow` header for known paths asked with another method, and the
//! RealWorld error body for anything warp itself rejects (CORS).

use std::convert::Infallible;

use warp::http::Method;
use warp::path::FullPath;
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

use super::ApiError;

/// A known path: its template (a metrics and log label) and the methods it
/// serves. HEAD is served wherever GET is (the server answers it as a GET
/// without the body), so the lists name it too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownPath {
    pub template: &'static str,
    pub allow: &'static str,
}

/// Classifies a request path by segment shape. Kept beside the routes' own
/// `// METHOD /path` lines; the tests walk every route.
pub fn classify(path: &str) -> Option<KnownPath> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let known = |template, allow| Some(KnownPath { template, allow });
    match segments.as_slice() {
        ["api", "users", "login"] => known("/api/users/login", "POST"),
        ["api", "users"] => known("/api/users", "POST"),
        ["api", "user"] => known("/api/user", "GET, HEAD, PUT"),
        ["api", "profiles", name] if !name.is_empty() => {
            known("/api/profiles/:username", "GET, HEAD")
        }
        ["api", "profiles", name, "follow"] if !name.is_empty() => {
            known("/api/profiles/:username/follow", "POST, DELETE")
        }
        ["api", "articles"] => known("/api/articles", "GET, HEAD, POST"),
        ["api", "articles", "feed"] => known("/api/articles/feed", "GET, HEAD, PUT, DELETE"),
        ["api", "articles", slug] if !slug.is_empty() => {
            known("/api/articles/:slug", "GET, HEAD, PUT, DELETE")
        }
        ["api", "articles", slug, "comments"] if !slug.is_empty() => {
            known("/api/articles/:slug/comments", "GET, HEAD, POST")
        }
        ["api", "articles", slug, "comments", id] if !slug.is_empty() && !id.is_empty() => {
            known("/api/articles/:slug/comments/:id", "DELETE")
        }
        ["api", "articles", slug, "favorite"] if !slug.is_empty() => {
            known("/api/articles/:slug/favorite", "POST, DELETE")
        }
        ["api", "tags"] => known("/api/tags", "GET, HEAD"),
        ["healthz"] => known("/healthz", "GET, HEAD"),
        ["readyz"] => known("/readyz", "GET, HEAD"),
        ["metrics"] => known("/metrics", "GET, HEAD"),
        _ => None,
    }
}

/// The label for paths no route knows, so they cannot inflate metrics.
pub const UNKNOWN_ROUTE: &str = "unknown";

/// Answers every request that no route took.
pub fn fallback() -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    warp::path::full()
        .and(warp::method())
        .map(|path: FullPath, method: Method| {
            let error = match classify(path.as_str()) {
                Some(known) if !known.allow.split(", ").any(|m| m == method.as_str()) => {
                    ApiError::MethodNotAllowed(known.allow)
                }
                _ => ApiError::NotFound(format!("no resource at {}", path.as_str())),
            };
            error.into_response()
        })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_list_their_methods() {
        let cases = [
            ("/api/users", Some("POST")),
            ("/api/user", Some("GET, HEAD, PUT")),
            ("/api/profiles/jake/follow", Some("POST, DELETE")),
            ("/api/articles/how-to/comments/7", Some("DELETE")),
            ("/api/tags", Some("GET, HEAD")),
            ("/api/nothing", None),
            ("/api/articles/a/b/c/d", None),
        ];
        for (path, allow) in cases {
            assert_eq!(classify(path).map(|k| k.allow), allow, "{path}");
        }
        assert_eq!(
            classify("/api/articles/how-to/comments/7")
                .unwrap()
                .template,
            "/api/articles/:slug/comments/:id"
        );
        assert_eq!(
            classify("/api/profiles/jake").unwrap().template,
            "/api/profiles/:username"
        );
    }
}
