//! Cross-site request forgery: every state-changing form post must come
//! from a page of this site. Browsers send `Origin` with a form post (and
//! `Referer` unless told not to); either must name the host the request
//! was sent to. `SameSite=Lax` already keeps the session cookie off a
//! cross-site post; this check refuses the post itself, signed in or not.

use warp::http::header::{HOST, ORIGIN, REFERER};
use warp::http::HeaderMap;

use crate::http::ApiError;

/// `Ok` when the post comes from this site; 403 otherwise, including when
/// the browser sent neither header.
pub fn check_same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let refused = || ApiError::Forbidden("this form was posted from another site".into());
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(refused)?;
    let source = headers
        .get(ORIGIN)
        .or_else(|| headers.get(REFERER))
        .and_then(|v| v.to_str().ok())
        .ok_or_else(refused)?;
    match authority(source) {
        Some(authority) if authority.eq_ignore_ascii_case(host) => Ok(()),
        _ => Err(refused()),
    }
}

/// The path and query of the page a request came from, when `Referer`
/// names a page of this host (as the browser sees it: with the base path).
pub fn referring_path(headers: &HeaderMap) -> Option<&str> {
    let host = headers.get(HOST)?.to_str().ok()?;
    let referer = headers.get(REFERER)?.to_str().ok()?;
    let (authority, rest) = split_url(referer)?;
    let path = rest.split('#').next().unwrap_or(rest);
    (authority.eq_ignore_ascii_case(host) && path.starts_with('/')).then_some(path)
}

/// `host[:port]` of an absolute http(s) URL; `None` for anything else
/// (including the `null` origin of sandboxed documents).
fn authority(url: &str) -> Option<&str> {
    split_url(url).map(|(authority, _)| authority)
}

/// An absolute http(s) URL as its authority (`host[:port]`, never with
/// user information) and what follows it.
fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(end);
    (!authority.is_empty() && !authority.contains('@')).then_some((authority, after))
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn posts_from_the_same_host_pass() {
        let same = [
            &[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080"),
            ][..],
            &[("host", "Example.com"), ("origin", "https://example.com")],
            &[
                ("host", "example.com"),
                ("referer", "https://example.com/editor?x=1"),
            ],
        ];
        for case in same {
            assert!(check_same_origin(&headers(case)).is_ok(), "{case:?}");
        }
    }

    #[test]
    fn the_referring_page_is_known_only_on_this_host() {
        let from = |referer: &'static str| {
            let map = headers(&[("host", "example.com"), ("referer", referer)]);
            referring_path(&map).map(str::to_owned)
        };
        assert_eq!(
            from("https://example.com/article/a?b=1#c").as_deref(),
            Some("/article/a?b=1")
        );
        assert_eq!(from("https://evil.example/article/a"), None);
        assert_eq!(from("https://example.com@evil.example/"), None);
        assert_eq!(from("https://example.com"), None);
    }

    #[test]
    fn posts_from_elsewhere_or_from_nowhere_are_refused() {
        let refused = [
            &[("host", "example.com"), ("origin", "https://evil.example")][..],
            &[("host", "example.com"), ("origin", "null")],
            &[
                ("host", "example.com:8080"),
                ("origin", "http://example.com"),
            ],
            &[
                ("host", "example.com"),
                ("referer", "https://example.com@evil.example/"),
            ],
            &[
                ("host", "example.com"),
                ("origin", "https://evil.example"),
                ("referer", "https://example.com/"),
            ],
            &[("host", "example.com")],
            &[("origin", "https://example.com")],
        ];
        for case in refused {
            assert!(check_same_origin(&headers(case)).is_err(), "{case:?}");
        }
    }
}
