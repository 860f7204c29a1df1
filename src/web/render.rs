//! What every page shares: the frame around it (navigation, stylesheet,
//! base path), turning a template into a response, redirects after a post,
//! error pages, and the security headers on every page.

use askama::Template;
use warp::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION, REFERRER_POLICY, RETRY_AFTER, SET_COOKIE,
    X_FRAME_OPTIONS,
};
use warp::http::{HeaderValue, StatusCode};
use warp::reply::{Reply as _, Response};

use super::assets;
use super::session::{sign_out_cookie, Session};
use crate::http::route::Call;
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
    pub title: String,
    /// Which navigation link is the current page's.
    pub here: &'static str,
    pub nav: Option<Nav>,
    default_avatar: String,
}

impl Frame {
    pub fn new(
        call: &Call,
        session: &Session,
        title: impl Into<String>,
        here: &'static str,
    ) -> Frame {
        let base = call.ctx.site.base_path.clone();
        let mut frame = Frame {
            stylesheet: format!("{base}{}", assets::stylesheet_path()),
            default_avatar: format!("{base}{}", assets::avatar_path()),
            base,
            title: title.into(),
            here,
            nav: None,
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
        if image.starts_with("https://") || image.starts_with("http://") {
            image.to_owned()
        } else {
            self.default_avatar.clone()
        }
    }

    /// A link to a path of this site.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// `page!(home => show_home)` defines the route handler `home`: it reads the
/// session, runs `show_home(&mut call, &session)`, and turns an error into
/// an error page for the same viewer.
macro_rules! page {
    ($vis:vis $handler:ident => $page:path) => {
        $vis async fn $handler(
            mut call: $crate::http::route::Call,
        ) -> $crate::http::route::Reply {
            let session = match $crate::web::session::Session::of(&call).await {
                Ok(session) => session,
                Err(error) => {
                    let guest = $crate::web::session::Session::guest();
                    return Ok($crate::web::render::error_page(&call, &guest, error));
                }
            };
            let result = $page(&mut call, &session).await;
            Ok($crate::web::render::respond(&call, &session, result))
        }
    };
}
pub(crate) use page;

/// A page's result as the browser gets it: errors become error pages, and a
/// stale session cookie is cleared.
pub fn respond(call: &Call, session: &Session, result: Result<Response, ApiError>) -> Response {
    let mut response = match result {
        Ok(response) => response,
        Err(ApiError::Unauthorized(_)) => redirect(call, "/login"),
        Err(error) => error_page(call, session, error),
    };
    if session.stale && !response.headers().contains_key(SET_COOKIE) {
        response
            .headers_mut()
            .insert(SET_COOKIE, sign_out_cookie(call));
    }
    response
}

/// Renders `template` with `status`.
pub fn html<T: Template>(status: StatusCode, template: &T) -> Result<Response, ApiError> {
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
}

/// The page for an error: its status, a heading, and the same message the
/// API would give (never the cause of a 500, which is logged).
pub fn error_page(call: &Call, session: &Session, error: ApiError) -> Response {
    if let ApiError::Internal(cause) = &error {
        tracing::error!(%cause, "internal error");
    }
    let status = error.status();
    let heading = match status {
        StatusCode::NOT_FOUND => "Page not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        StatusCode::SERVICE_UNAVAILABLE => "Please try again shortly",
        s if s.is_client_error() => "That did not work",
        _ => "Something went wrong",
    };
    let page = ErrorPage {
        frame: Frame::new(call, session, heading, ""),
        heading,
        messages: error.messages(),
    };
    let mut response = html(status, &page).unwrap_or_else(|e| e.into_response());
    match error {
        ApiError::TooManyRequests(secs) => {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        ApiError::Unavailable(_) => {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        }
        _ => {}
    }
    response
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
