//! What happens when no route answers: 404 for unknown paths, 405 with an
//! `Allow` header for known paths asked with another method, and the
//! RealWorld error body for anything warp itself rejects (CORS).

use std::convert::Infallible;

use warp::http::Method;
use warp::path::FullPath;
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

use super::ApiError;

/// The methods each path of the API serves, by segment shape. Kept beside
/// the routes' own `/// METHOD /path` lines; a test walks every route.
fn allowed_methods(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let allow = match segments.as_slice() {
        ["api", "users", "login"] => "POST",
        ["api", "users"] => "POST",
        ["api", "user"] => "GET, PUT",
        ["api", "profiles", name] if !name.is_empty() => "GET",
        ["api", "profiles", name, "follow"] if !name.is_empty() => "POST, DELETE",
        ["api", "articles"] => "GET, POST",
        ["api", "articles", "feed"] => "GET, PUT, DELETE",
        ["api", "articles", slug] if !slug.is_empty() => "GET, PUT, DELETE",
        ["api", "articles", slug, "comments"] if !slug.is_empty() => "GET, POST",
        ["api", "articles", slug, "comments", id] if !slug.is_empty() && !id.is_empty() => "DELETE",
        ["api", "articles", slug, "favorite"] if !slug.is_empty() => "POST, DELETE",
        ["api", "tags"] => "GET",
        _ => return None,
    };
    Some(allow)
}

/// Answers every request that no route took.
pub fn fallback() -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    warp::path::full()
        .and(warp::method())
        .map(|path: FullPath, method: Method| {
            let error = match allowed_methods(path.as_str()) {
                Some(allow) if !allow.split(", ").any(|m| m == method.as_str()) => {
                    ApiError::MethodNotAllowed(allow)
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
            ("/api/user", Some("GET, PUT")),
            ("/api/profiles/jake/follow", Some("POST, DELETE")),
            ("/api/articles/how-to/comments/7", Some("DELETE")),
            ("/api/tags", Some("GET")),
            ("/api/nothing", None),
            ("/api/articles/a/b/c/d", None),
        ];
        for (path, allow) in cases {
            assert_eq!(allowed_methods(path), allow, "{path}");
        }
    }
}
