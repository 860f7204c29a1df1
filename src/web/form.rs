//! Form posts: `application/x-www-form-urlencoded` bodies, and the page a
//! form asks to return to.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::http::route::Call;
use crate::http::ApiError;

/// Decodes a form body into `T` (whose fields are all optional strings, so
/// only a broken encoding fails).
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|_| ApiError::Unprocessable(vec!["the form could not be read".into()]))
}

/// A form's `next` field: the page to show after the action, as a path of
/// this site (`/article/how-to?x=1`). Anything else, including another
/// host's address, falls back to `default`. Only ASCII: it becomes a
/// `Location` header, and paths this site links to are percent-encoded.
pub fn next_page(next: Option<&str>, default: &str) -> String {
    local_path(next).unwrap_or_else(|| default.to_owned())
}

/// `path` when it is a path of this site fit for a `Location` header (see
/// [`next_page`]), else `None`.
pub fn local_path(path: Option<&str>) -> Option<String> {
    path.filter(|path| {
        path.starts_with('/')
            && !path.starts_with("//")
            && path.is_ascii()
            && !path.contains('\\')
            && !path.chars().any(char::is_control)
    })
    .map(str::to_owned)
}

/// `?next=<path>` for a link or a form action that must carry the page to
/// return to (empty when there is none, or it is the home page).
pub fn next_query(next: Option<&str>) -> String {
    match next.filter(|path| *path != "/") {
        Some(path) => format!("?next={}", encoded(path)),
        None => String::new(),
    }
}

/// What a query value must escape: all but the unreserved characters of
/// RFC 3986 (letters, digits, `-`, `.`, `_`, `~`).
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` fit for a query value.
pub fn encoded(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, QUERY_VALUE).to_string()
}

/// The page to return to after signing in, from a sign-in page's query.
pub fn next_in_query(call: &Call) -> Option<String> {
    local_path(call.query().ok()?.get("next"))
}

/// The body of a button's form: only where to go afterwards.
#[derive(Deserialize)]
struct ActionForm {
    next: Option<String>,
}

/// Reads a button's form and returns the page to show after its action
/// (see [`next_page`]).
pub async fn next_after_action(call: &mut Call, default: &str) -> Result<String, ApiError> {
    let typed: ActionForm = parse(&call.body().await?)?;
    Ok(next_page(typed.next.as_deref(), default))
}

/// Tags as typed in one field: separated by commas or spaces.
pub fn tag_list(raw: &str) -> Vec<String> {
    raw.split([',', ' ', '\t', '\n'])
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(next_page(Some("/article/a?b=1"), "/"), "/article/a?b=1");
        for hostile in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "x",
            "",
            "/é",
        ] {
            assert_eq!(next_page(Some(hostile), "/"), "/", "{hostile}");
        }
        assert_eq!(next_page(None, "/home"), "/home");
    }

    #[test]
    fn the_page_to_return_to_travels_encoded() {
        assert_eq!(
            next_query(Some("/article/a?b=1")),
            "?next=%2Farticle%2Fa%3Fb%3D1"
        );
        assert_eq!(next_query(Some("/")), "");
        assert_eq!(next_query(None), "");
    }

    #[test]
    fn tags_split_on_commas_and_spaces() {
        assert_eq!(tag_list(" rust, web  dev,,"), ["rust", "web", "dev"]);
        assert!(tag_list("  ").is_empty());
    }
}
