//! Cross-origin requests to the API (the pages are not CORS resources:
//! they check a form's origin themselves).
//!
//! The policy is applied by the server around every request, not by a
//! filter inside the routes, so that every response on an API path carries
//! the same headers whichever layer made it: a handler, the load shedding,
//! the request timeout or the connection cap. A browser on another origin
//! can then read a 503 and its `Retry-After` too.

use warp::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode};
use warp::reply::{Reply as _, Response};

use super::error::ApiError;

/// The methods the API serves, as a preflight lists them.
const METHODS: &str = "GET, HEAD, POST, PUT, DELETE, OPTIONS";

/// Request headers a cross-origin client may send.
const ALLOWED_HEADERS: &str =
    "authorization, content-type, x-requested-with, x-request-id, if-none-match, conduit-written";

/// Readable by a browser client: the id to quote in a report, how long to
/// wait after a 429 or 503, and the tag to revalidate with.
const EXPOSED_HEADERS: &str = "x-request-id, retry-after, etag, conduit-written";

/// How long a browser may keep a preflight's answer, in seconds.
const MAX_AGE_SECS: &str = "3600";

/// Which origins may call the API (`cors_origins`).
#[derive(Clone, Debug)]
pub struct Cors {
    /// `None` allows any origin. Tokens travel in a header, never a
    /// cookie, so allowing any grants no ambient authority.
    origins: Option<Vec<HeaderValue>>,
}

/// What CORS makes of one request.
#[derive(Debug)]
pub enum Verdict {
    /// Not a cross-origin request (no `Origin`): nothing to add.
    NotCors,
    /// A preflight, answered without calling any route.
    Preflight(Response),
    /// From an origin, or asking for a method or header, this API does
    /// not allow: 403, without CORS headers, so the browser keeps it from
    /// the page.
    Refused,
    /// An allowed origin: the response gets [`Cors::expose_to`].
    Allowed(HeaderValue),
}

impl Cors {
    /// `["*"]` (or any list holding `*`) allows every origin.
    pub fn new(origins: &[String]) -> Result<Cors, String> {
        if origins.iter().any(|origin| origin == "*") {
            return Ok(Cors { origins: None });
        }
        let origins = origins
            .iter()
            .map(|origin| {
                HeaderValue::from_str(origin)
                    .map_err(|_| format!("cors_origins: {origin:?} is not a valid origin"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Cors {
            origins: Some(origins),
        })
    }

    fn allows(&self, origin: &HeaderValue) -> bool {
        self.origins
            .as_ref()
            .is_none_or(|allowed| allowed.contains(origin))
    }

    /// Judges a request by its method and headers.
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Verdict {
        let Some(origin) = headers.get(ORIGIN) else {
            return Verdict::NotCors;
        };
        if !self.allows(origin) {
            return Verdict::Refused;
        }
        if method != Method::OPTIONS {
            return Verdict::Allowed(origin.clone());
        }
        // An OPTIONS without the method it asks about is no preflight: the
        // routes answer it (405).
        let Some(asked) = headers.get(ACCESS_CONTROL_REQUEST_METHOD) else {
            return Verdict::Allowed(origin.clone());
        };
        let method_allowed = Method::from_bytes(asked.as_bytes())
            .is_ok_and(|m| METHODS.split(", ").any(|allowed| allowed == m.as_str()));
        let headers_allowed = headers
            .get_all(ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .all(|value| {
                value.to_str().is_ok_and(|list| {
                    list.split(',')
                        .map(str::trim)
                        .filter(|name| !name.is_empty())
                        .all(|name| {
                            ALLOWED_HEADERS
                                .split(", ")
                                .any(|allowed| allowed.eq_ignore_ascii_case(name))
                        })
                })
            });
        if !(method_allowed && headers_allowed) {
            return Verdict::Refused;
        }
        let mut response = StatusCode::OK.into_response();
        let out = response.headers_mut();
        out.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(METHODS),
        );
        out.insert(
            ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOWED_HEADERS),
        );
        out.insert(
            ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE_SECS),
        );
        Self::expose_to(origin.clone(), &mut response);
        Verdict::Preflight(response)
    }

    /// The answer to a refused request.
    pub fn refusal() -> Response {
        ApiError::Forbidden("CORS request not allowed".into()).into_response()
    }

    /// Lets `origin` read `response`, and the headers it needs.
    pub fn expose_to(origin: HeaderValue, response: &mut Response) {
        let headers = response.headers_mut();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
        // The origin is echoed, so caches must keep one copy per origin.
        headers.append(VARY, HeaderValue::from_static("origin"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn a_listed_origin_is_allowed_and_any_other_refused() {
        let cors = Cors::new(&["https://app.example".into()]).unwrap();
        let allowed = cors.check(&Method::GET, &headers(&[("origin", "https://app.example")]));
        assert!(matches!(allowed, Verdict::Allowed(o) if o == "https://app.example"));
        let other = cors.check(
            &Method::GET,
            &headers(&[("origin", "https://evil.example")]),
        );
        assert!(matches!(other, Verdict::Refused));
        assert!(matches!(
            cors.check(&Method::GET, &headers(&[])),
            Verdict::NotCors
        ));
        let any = Cors::new(&["*".into()]).unwrap();
        let anyone = any.check(
            &Method::PUT,
            &headers(&[("origin", "https://evil.example")]),
        );
        assert!(matches!(anyone, Verdict::Allowed(_)));
    }

    #[test]
    fn a_preflight_is_answered_only_for_what_the_api_allows() {
        let cors = Cors::new(&["*".into()]).unwrap();
        let good = cors.check(
            &Method::OPTIONS,
            &headers(&[
                ("origin", "https://app.example"),
                ("access-control-request-method", "PUT"),
                (
                    "access-control-request-headers",
                    "Authorization, content-type",
                ),
            ]),
        );
        let Verdict::Preflight(response) = good else {
            panic!("a preflight: {good:?}")
        };
        let out = response.headers();
        assert_eq!(out[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example");
        assert!(out[ACCESS_CONTROL_ALLOW_METHODS]
            .to_str()
            .unwrap()
            .contains("PUT"));
        assert_eq!(out[ACCESS_CONTROL_MAX_AGE], "3600");
        assert_eq!(out[VARY], "origin");
        for refused in [
            [("access-control-request-method", "PATCH"), ("x", "y")],
            [
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "cookie"),
            ],
        ] {
            let mut asked = headers(&refused);
            asked.insert(ORIGIN, HeaderValue::from_static("https://app.example"));
            assert!(
                matches!(cors.check(&Method::OPTIONS, &asked), Verdict::Refused),
                "{refused:?}"
            );
        }
        let bare = cors.check(
            &Method::OPTIONS,
            &headers(&[("origin", "https://app.example")]),
        );
        assert!(
            matches!(bare, Verdict::Allowed(_)),
            "no method asked: routed"
        );
    }

    #[test]
    fn origins_must_be_header_values() {
        assert!(Cors::new(&["https://ok.example".into(), "bad\nvalue".into()]).is_err());
    }
}
