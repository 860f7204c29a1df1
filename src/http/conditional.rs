//! Conditional GET for the API's JSON reads: a weak `ETag` derived from the
//! body the caller gets (so viewers who see different `favorited` or
//! `following` flags get different tags), 304 with no body when
//! `If-None-Match` names it, and caching headers that make caches
//! revalidate instead of serving stale data. Documents that readers poll
//! (feeds, sitemaps) get [`document`]: the same tags, and `Last-Modified`.

use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use warp::http::header::{
    HeaderMap, HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, LAST_MODIFIED, VARY,
};
use warp::http::{Method, StatusCode};
use warp::reply::{Reply as _, Response};

use super::error::ApiError;
use crate::domain::views::Timestamp;

/// What a GET request brings to revalidation.
pub struct Revalidation {
    /// Every `If-None-Match` line, joined; empty when none came.
    if_none_match: String,
    /// The answer may depend on who asks (a token came with it).
    personal: bool,
}

impl Revalidation {
    /// For a GET (a HEAD arrives here as one); `None` for other methods.
    pub fn of(method: &Method, headers: &HeaderMap) -> Option<Revalidation> {
        (method == Method::GET).then(|| Revalidation {
            // The field is a list and may come in several lines.
            if_none_match: match headers.contains_key(IF_NONE_MATCH) {
                false => String::new(),
                true => headers
                    .get_all(IF_NONE_MATCH)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect::<Vec<_>>()
                    .join(","),
            },
            personal: headers.contains_key(AUTHORIZATION),
        })
    }

    /// Adds the caching headers to a JSON response, and for a 200 its
    /// `ETag`; answers 304 instead when the caller already holds that body.
    /// Other responses (pages, metrics) pass untouched.
    pub async fn finish(self, response: Response) -> Response {
        if !is_json(&response) {
            return response;
        }
        let (mut parts, body) = response.into_parts();
        let headers = &mut parts.headers;
        // Every read is revalidated; one that depends on the caller is
        // never stored by a shared cache.
        let policy = if self.personal {
            "private, no-cache"
        } else {
            "no-cache"
        };
        headers
            .entry(CACHE_CONTROL)
            .or_insert(HeaderValue::from_static(policy));
        // The body's encoding is negotiated, whether or not this one is
        // large enough to be compressed.
        headers.append(VARY, HeaderValue::from_static("accept-encoding"));
        if parts.status != StatusCode::OK {
            return Response::from_parts(parts, body);
        }
        let bytes = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                return ApiError::Internal(format!("reading a response body: {e}")).into_response()
            }
        };
        let tag = weak_tag(&bytes);
        let matched = matches_any(&self.if_none_match, &tag);
        if let Ok(value) = HeaderValue::from_str(&tag) {
            parts.headers.insert(ETAG, value);
        }
        if matched {
            // 304 keeps the headers a cache refreshes (RFC 9110, 15.4.5),
            // not those that describe the body it does not carry.
            parts.status = StatusCode::NOT_MODIFIED;
            parts.headers.remove(CONTENT_TYPE);
            parts.headers.remove(warp::http::header::CONTENT_LENGTH);
            return Response::from_parts(parts, Default::default());
        }
        Response::from_parts(parts, bytes.into())
    }
}

/// A document readers poll (feeds, sitemaps): an `ETag` from its body and
/// a `Last-Modified` from its newest change, and 304 when the reader holds
/// it already. `If-None-Match` decides when sent; `If-Modified-Since` only
/// without it (RFC 9110, 13.2.2). Shared caches may keep it five minutes.
pub fn document(
    headers: &HeaderMap,
    content_type: &'static str,
    body: String,
    last_modified: Option<Timestamp>,
) -> Response {
    let tag = weak_tag(body.as_bytes());
    document_tagged(headers, content_type, tag, last_modified, || body)
}

/// [`document`] for a body that costs more to make than its inputs cost to
/// hash: `tag` ([`TagOf`] those inputs) answers a reader who holds it
/// current, and only others get the body `render` makes.
pub fn document_tagged(
    headers: &HeaderMap,
    content_type: &'static str,
    tag: String,
    last_modified: Option<Timestamp>,
    render: impl FnOnce() -> String,
) -> Response {
    let modified_secs = last_modified.map(|t| t.0.div_euclid(1000));
    let current = match headers.get(IF_NONE_MATCH) {
        Some(_) => {
            let list: Vec<&str> = headers
                .get_all(IF_NONE_MATCH)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            matches_any(&list.join(","), &tag)
        }
        None => match (modified_secs, headers.get(IF_MODIFIED_SINCE)) {
            (Some(modified), Some(since)) => since
                .to_str()
                .ok()
                .and_then(parse_http_date)
                .is_some_and(|since| modified <= since),
            _ => false,
        },
    };
    let mut response = if current {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = Response::new(render().into());
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&tag) {
        headers.insert(ETAG, value);
    }
    if let Some(value) = modified_secs
        .and_then(http_date)
        .and_then(|date| HeaderValue::from_str(&date).ok())
    {
        headers.insert(LAST_MODIFIED, value);
    }
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    headers.append(VARY, HeaderValue::from_static("accept-encoding"));
    response
}

/// A weak tag for a document made from the parts given alone (each
/// hashed with its length, so parts cannot run into each other).
#[derive(Default)]
pub struct TagOf(Sha256);

impl TagOf {
    pub fn part(&mut self, part: &[u8]) -> &mut Self {
        self.0.update((part.len() as u64).to_le_bytes());
        self.0.update(part);
        self
    }

    pub fn finish(self) -> String {
        hex_tag(&self.0.finalize())
    }
}

/// IMF-fixdate, the one form of HTTP date a server sends.
const HTTP_DATE: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// `Sun, 06 Nov 1994 08:49:37 GMT` for Unix seconds.
fn http_date(secs: i64) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()?
        .format(HTTP_DATE)
        .ok()
}

/// Unix seconds of an IMF-fixdate; `None` for anything else (the header
/// is then ignored, as RFC 9110 asks of an invalid date).
fn parse_http_date(text: &str) -> Option<i64> {
    let parsed = time::PrimitiveDateTime::parse(text.trim(), HTTP_DATE).ok()?;
    Some(parsed.assume_utc().unix_timestamp())
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// `W/"…"`: the first 128 bits of the body's SHA-256. Weak, because the
/// same tag stands for the body whatever its content coding (gzip, br).
fn weak_tag(body: &[u8]) -> String {
    hex_tag(&Sha256::digest(body))
}

/// `W/"…"` of a digest's first 128 bits.
fn hex_tag(digest: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut tag = String::with_capacity(36);
    tag.push_str("W/\"");
    for byte in &digest[..16] {
        tag.push(char::from(HEX[usize::from(byte >> 4)]));
        tag.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    tag.push('"');
    tag
}

/// Whether an `If-None-Match` list names `tag`, compared weakly (RFC 9110,
/// 8.8.3.2: the `W/` prefix is ignored on both sides); `*` names any.
fn matches_any(list: &str, tag: &str) -> bool {
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let ours = opaque(tag);
    list.split(',')
        .map(str::trim)
        .filter(|candidate| !candidate.is_empty())
        .any(|candidate| candidate == "*" || opaque(candidate) == ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_weak_and_follow_the_body() {
        let tag = weak_tag(br#"{"tags":[]}"#);
        assert!(
            tag.starts_with("W/\"") && tag.ends_with('"') && tag.len() == 36,
            "{tag}"
        );
        assert_eq!(tag, weak_tag(br#"{"tags":[]}"#));
        assert_ne!(tag, weak_tag(br#"{"tags":["rust"]}"#));
    }

    #[test]
    fn http_dates_are_imf_fixdates_both_ways() {
        assert_eq!(
            http_date(784111777).as_deref(),
            Some("Sun, 06 Nov 1994 08:49:37 GMT")
        );
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784111777)
        );
        for other in ["Sunday, 06-Nov-94 08:49:37 GMT", "yesterday", ""] {
            assert_eq!(parse_http_date(other), None, "{other}");
        }
    }

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists() {
        let tag = r#"W/"abc""#;
        for list in [
            r#"W/"abc""#,
            r#""abc""#,
            r#""x", W/"abc""#,
            "*",
            r#" "y" ,"abc" "#,
        ] {
            assert!(matches_any(list, tag), "{list}");
        }
        for list in [r#"W/"abd""#, r#""ab""#, "", r#"W/"abc"x"#] {
            assert!(!matches_any(list, tag), "{list}");
        }
    }
}
