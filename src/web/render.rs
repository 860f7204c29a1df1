//! What every page shares: the frame around it (navigation, stylesheet,
//! base path), turning a template into a response, redirects after a post,
//! error pages, and the security headers on every page.

use askama::Template;
use warp::http::header::{
    ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, LOCATION, REFERRER_POLICY,
    RETRY_AFTER, SET_COOKIE, X_FRAME_OPTIONS,
};
use warp::http::{HeaderValue, StatusCode};
use warp::reply::{Reply as _, Response};

use std::future::Future;
use std::pin::Pin;

use super::csrf::{check_same_origin, referring_path};
use super::session::{sign_out_cookie, Session};
use super::{assets, form, views};
use crate::http::route::{Call, Reply};
use crate::http::ApiError;

/// No script at all, styles only from this site, images from anywhere (an
/// avatar is any URL), forms only to this site, never inside a frame.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src * data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The signed-in user, as the navigation bar shows them.
pub struct Nav {
    pub username: String,
    pub image: String,
}

/// The part of every page around its content.
pub struct Frame {
    /// Prefix of every link: `""` or the public base path (`/conduit`).
    pub base: String,
    pub stylesheet: String,
    pub favicon: String,
    pub title: String,
    /// Which navigation link is the current page's.
    pub here: &'static str,
    pub nav: Option<Nav>,
    /// The sign-in and sign-up pages, asked to return here afterwards.
    pub sign_in: String,
    pub sign_up: String,
    /// What the search box shows: the query of the results on screen.
    pub search: String,
    /// Atom feeds of what the page lists (`<link rel="alternate">`).
    pub feeds: Vec<FeedLink>,
    /// The page's one absolute URL (`<link rel="canonical">`).
    pub canonical: Option<String>,
    /// Search engines should not index it (search results).
    pub noindex: bool,
    /// What a link to this page shows when pasted into a chat or a post
    /// (Open Graph and Twitter card tags).
    pub card: Option<Card>,
    default_avatar: String,
}

/// An Atom feed a page advertises.
pub struct FeedLink {
    pub href: String,
    pub title: String,
}

/// A link preview: the page's title, description, author and URL.
pub struct Card {
    pub kind: &'static str,
    pub title: String,
    pub description: String,
    pub author: Option<String>,
    pub url: String,
    pub image: Option<String>,
}

impl Frame {
    pub fn new(
        call: &Call,
        session: &Session,
        title: impl Into<String>,
        here: &'static str,
    ) -> Frame {
        let base = call.ctx.site.base_path.clone();
        // The sign-in pages pass on where they were asked to return.
        let next = match here {
            "login" | "register" => form::next_in_query(call),
            _ => Some(views::here(call)),
        };
        let next = form::next_query(next.as_deref());
        let mut frame = Frame {
            stylesheet: format!("{base}{}", assets::stylesheet_path()),
            favicon: format!("{base}{}", assets::favicon_path()),
            default_avatar: format!("{base}{}", assets::avatar_path()),
            sign_in: format!("{base}/login{next}"),
            sign_up: format!("{base}/register{next}"),
            base,
            title: title.into(),
            here,
            nav: None,
            search: String::new(),
            feeds: Vec::new(),
            canonical: None,
            noindex: false,
            card: None,
        };
        frame.nav = session.user.as_ref().map(|user| Nav {
            username: user.user.username.clone(),
            image: frame.avatar(&user.user.image),
        });
        frame
    }

    /// An image URL fit for `<img src>`: the user's own when it is a web
    /// address, else the default avatar.
    pub fn avatar(&self, image: &str) -> String {
        web_image(image).unwrap_or(&self.default_avatar).to_owned()
    }

    /// A link to a path of this site.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Advertises the Atom feed at `path` (below the base path).
    pub fn with_feed(mut self, title: String, path: &str) -> Frame {
        self.feeds.push(FeedLink {
            href: self.link(path),
            title,
        });
        self
    }
}

/// A user's image when it is a web address (what `<img src>` and link
/// previews may show), else nothing.
pub fn web_image(image: &str) -> Option<&str> {
    (image.starts_with("https://") || image.starts_with("http://")).then_some(image)
}

/// What a page function returns: the page, or the error whose page to show.
pub type PageResult = Result<Response, ApiError>;

/// A page: reads what it needs from the request, given who is signed in.
pub type PageFn =
    for<'a> fn(&'a mut Call, &'a Session) -> Pin<Box<dyn Future<Output = PageResult> + Send + 'a>>;

/// `page!(GET "/settings" => show_settings)`: one line of a page table. A
/// `POST` line is a form post, refused (403) unless it comes from a page of
/// this site, before anything else is read.
macro_rules! page {
    (GET $template:literal => $page:path) => {
        page!(@ Get $template, $page, $crate::web::render::Method::Show)
    };
    (POST $template:literal => $page:path) => {
        page!(@ Post $template, $page, $crate::web::render::Method::Form)
    };
    (@ $verb:ident $template:literal, $page:path, $method:expr) => {
        $crate::http::route::Route {
            verb: $crate::http::route::Verb::$verb,
            template: $template,
            handler: |call| {
                Box::pin($crate::web::render::serve(call, $method, |call, session| {
                    Box::pin($page(call, session))
                }))
            },
        }
    };
}
pub(crate) use page;

/// How a page is asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A visit (GET): it changes nothing.
    Show,
    /// A form's post: it must come from this site (see [`check_same_origin`]).
    Form,
}

/// Serves one page: the same-site check of a form post, then the session,
/// then the page; an error becomes the error page for the same viewer.
pub async fn serve(mut call: Call, method: Method, page: PageFn) -> Reply {
    if method == Method::Form {
        if let Err(refused) = check_same_origin(call.headers()) {
            return Ok(error_page(&call, &Session::guest(), refused));
        }
    }
    let session = match Session::of(&call).await {
        Ok(session) => session,
        Err(error) => return Ok(error_page(&call, &Session::guest(), error)),
    };
    let result = page(&mut call, &session).await;
    Ok(respond(&call, method, &session, result))
}

/// A page's result as the browser gets it: errors become error pages, a
/// guest is sent to sign in (and brought back afterwards), and a stale
/// session cookie is cleared.
pub(super) fn respond(
    call: &Call,
    method: Method,
    session: &Session,
    result: PageResult,
) -> Response {
    let mut response = match result {
        Ok(response) => response,
        Err(ApiError::Unauthorized(_)) => {
            let back = return_to(call, method);
            redirect(
                call,
                &format!("/login{}", form::next_query(back.as_deref())),
            )
        }
        Err(error) => error_page(call, session, error),
    };
    if session.stale && !response.headers().contains_key(SET_COOKIE) {
        response
            .headers_mut()
            .insert(SET_COOKIE, sign_out_cookie(call));
    }
    response
}

/// The page to come back to after signing in: the page itself for a
/// visit, the page the form was on for a post (a button pressed as a
/// guest), as a path below the base path.
fn return_to(call: &Call, method: Method) -> Option<String> {
    let path = match method {
        Method::Show => views::here(call),
        Method::Form => {
            let from = referring_path(call.headers())?;
            from.strip_prefix(call.ctx.site.base_path.as_str())?
                .to_owned()
        }
    };
    form::local_path(Some(&path))
}

/// Renders `template` with `status`.
pub fn html<T: Template>(status: StatusCode, template: &T) -> Result<Response, ApiError> {
    let span = match crate::telemetry::request_tag::traced() {
        true => tracing::trace_span!("render", otel.name = tracing::field::Empty),
        false => tracing::Span::none(),
    };
    if !span.is_disabled() {
        let template = std::any::type_name::<T>()
            .rsplit("::")
            .next()
            .unwrap_or("page");
        span.record(
            "otel.name",
            tracing::field::display(format_args!("render {template}")),
        );
    }
    let _span = span.entered();
    let body = template
        .render()
        .map_err(|e| ApiError::Internal(format!("template: {e}")))?;
    let mut response = warp::reply::html(body).into_response();
    *response.status_mut() = status;
    Ok(response)
}

/// 303 to a path of this site: the answer to every successful post.
pub fn redirect(call: &Call, path: &str) -> Response {
    let location = format!("{}{path}", call.ctx.site.base_path);
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    frame: Frame,
    heading: &'static str,
    messages: Vec<String>,
    /// Where to go to mend what was refused, if anywhere.
    back: Option<Link>,
}

/// A link the error page offers.
pub struct Link {
    pub href: String,
    pub label: &'static str,
}

/// The page for an error: its status, a heading, and the same message the
/// API would give (never the cause of a 500, which is logged), in words
/// fit for a page where the API's would not be.
pub fn error_page(call: &Call, session: &Session, error: ApiError) -> Response {
    if let ApiError::Internal(cause) = &error {
        tracing::error!(%cause, "internal error");
    }
    let status = error.status();
    let heading = match status {
        StatusCode::NOT_FOUND => "Page not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::METHOD_NOT_ALLOWED => "Nothing to open here",
        StatusCode::PAYLOAD_TOO_LARGE => "Too large to send",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        StatusCode::SERVICE_UNAVAILABLE => "Please try again shortly",
        s if s.is_client_error() => "That did not work",
        _ => "Something went wrong",
    };
    let (messages, back) = match &error {
        ApiError::MethodNotAllowed(allow) if !allow.contains("GET") => (
            vec!["This address answers a button on a page (such as Sign out), not a visit.".into()],
            None,
        ),
        ApiError::MethodNotAllowed(_) => (vec!["This page takes no form.".into()], None),
        ApiError::PayloadTooLarge(limit) => {
            let sent = sent_size(call).map_or_else(String::new, |size| format!(" ({size})"));
            let message = format!(
                "What the form sent{sent} is larger than the {} this site takes at most. \
                 Nothing was saved.",
                size_in_words(*limit)
            );
            (vec![message], back_to_form(call, "Back to the form"))
        }
        _ => (error.messages(), None),
    };
    let mut response = problem_page(call, session, status, heading, messages, back);
    let headers = response.headers_mut();
    match error {
        ApiError::TooManyRequests(secs) => {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        ApiError::Unavailable(_) => {
            headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        ApiError::MethodNotAllowed(allow) => {
            if let Ok(value) = HeaderValue::from_str(&allow) {
                headers.insert(ALLOW, value);
            }
        }
        _ => {}
    }
    response
}

/// A page that says what went wrong, with `status`.
pub fn problem_page(
    call: &Call,
    session: &Session,
    status: StatusCode,
    heading: &'static str,
    messages: Vec<String>,
    back: Option<Link>,
) -> Response {
    let page = ErrorPage {
        frame: Frame::new(call, session, heading, ""),
        heading,
        messages,
        back,
    };
    html(status, &page).unwrap_or_else(|e| e.into_response())
}

/// The page a refused form was on (its `Referer`, on this host), to go
/// back and mend it; the browser's Back button keeps what was typed.
pub fn back_to_form(call: &Call, label: &'static str) -> Option<Link> {
    let href = form::local_path(referring_path(call.headers()))?;
    Some(Link { href, label })
}

/// The size a request declared, in words.
pub fn sent_size(call: &Call) -> Option<String> {
    call.headers()
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
        .map(size_in_words)
}

/// `2 MiB`, `1.5 MiB`, `640 KiB`, `12 bytes`.
pub fn size_in_words(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    let (unit, name) = match bytes {
        b if b >= MIB => (MIB, "MiB"),
        b if b >= KIB => (KIB, "KiB"),
        _ => return format!("{bytes} bytes"),
    };
    let tenths = (bytes * 10 + unit / 2) / unit;
    if tenths.is_multiple_of(10) {
        format!("{} {name}", tenths / 10)
    } else {
        format!("{}.{} {name}", tenths / 10, tenths % 10)
    }
}

/// Headers on every response of the web app: the content security policy,
/// no framing, no referrer beyond this site, and no shared caching of
/// pages that show who is signed in (files set their own caching).
pub fn secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("private, no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_words() {
        assert_eq!(size_in_words(2 * 1024 * 1024), "2 MiB");
        assert_eq!(size_in_words(3 * 1024 * 1024 + 100 * 1024), "3.1 MiB");
        assert_eq!(size_in_words(1536), "1.5 KiB");
        assert_eq!(size_in_words(900), "900 bytes");
    }
}
