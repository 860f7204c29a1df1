//! The one error type of the HTTP layer. Every variant renders as the
//! RealWorld error body `{"errors":{"body":["..."]}}`, so clients parse one
//! shape whatever went wrong.

use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::{Reply, Response};

use crate::auth::limits::LimitError;
use crate::auth::password::HashError;
use crate::store::{StoreError, UniqueKey};

#[derive(Debug)]
pub enum ApiError {
    /// 401: no token where one is required, or a bad one anywhere. Carries
    /// `WWW-Authenticate: Token`.
    Unauthorized(&'static str),
    /// 403: the resource exists but belongs to someone else.
    Forbidden(String),
    /// 404: unknown route, slug, username or comment.
    NotFound(String),
    /// 405: the path exists but not with this method; lists those it has.
    MethodNotAllowed(String),
    /// 413: the body is larger than the configured limit.
    PayloadTooLarge(u64),
    /// 422: invalid input, duplicates, malformed JSON; one message per problem.
    Unprocessable(Vec<String>),
    /// 429: an abuse limit was reached; retry after this many seconds.
    TooManyRequests(u64),
    /// 503: the database could not be reached in time, the server is
    /// overloaded or shutting down, or the request took too long; worth
    /// retrying. The message says which.
    Unavailable(String),
    /// 503 from `/readyz`, with the reason.
    NotReady(String),
    /// 500: a bug or an unexpected backend failure. The cause is logged,
    /// never sent.
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn messages(&self) -> Vec<String> {
        match self {
            ApiError::Unauthorized(m) => vec![(*m).to_owned()],
            ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::Unavailable(m)
            | ApiError::NotReady(m) => vec![m.clone()],
            ApiError::TooManyRequests(secs) => {
                vec![format!("too many attempts; try again in {secs} seconds")]
            }
            ApiError::MethodNotAllowed(allow) => {
                vec![format!("method not allowed here; use {allow}")]
            }
            ApiError::PayloadTooLarge(limit) => {
                vec![format!("request body is larger than {limit} bytes")]
            }
            ApiError::Unprocessable(problems) => problems.clone(),
            ApiError::Internal(_) => vec!["internal server error".into()],
        }
    }
}

/// The single mapping point from storage failures to HTTP meaning. The
/// store says what was missing or not the caller's, so the message is its
/// own (`article not found`). Nothing is logged here: the store logs and
/// counts an unreachable database, and a 500 is logged when it is sent.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => ApiError::NotFound(e.to_string()),
            StoreError::Forbidden(_) => ApiError::Forbidden(e.to_string()),
            StoreError::Conflict(UniqueKey::Username) => {
                ApiError::Unprocessable(vec!["username has already been taken".into()])
            }
            StoreError::Conflict(UniqueKey::Email) => {
                ApiError::Unprocessable(vec!["email has already been taken".into()])
            }
            StoreError::Conflict(UniqueKey::Slug) => {
                ApiError::Internal("slug conflict escaped the retry loop".into())
            }
            StoreError::Invalid(message) => ApiError::Unprocessable(vec![message]),
            StoreError::Unavailable(_) => ApiError::Unavailable(DB_UNAVAILABLE.into()),
            StoreError::Backend(_) | StoreError::Schema(_) => ApiError::Internal(e.report()),
        }
    }
}

/// What a client is told when the database cannot be reached.
pub const DB_UNAVAILABLE: &str = "the service is temporarily unavailable; try again shortly";

impl From<HashError> for ApiError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => {
                ApiError::Unavailable("too many logins in progress; try again shortly".into())
            }
            HashError::Failed(cause) => ApiError::Internal(cause),
        }
    }
}

impl Reply for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        let body = serde_json::json!({ "errors": { "body": self.messages() } });
        let mut response = super::reply::json(self.status(), &body);
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
            }
            ApiError::MethodNotAllowed(allow) => {
                if let Ok(value) = HeaderValue::from_str(&allow) {
                    headers.insert(header::ALLOW, value);
                }
            }
            ApiError::Unavailable(_) | ApiError::NotReady(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::TooManyRequests(secs) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            }
            _ => {}
        }
        response
    }
}

impl From<LimitError> for ApiError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::Exceeded(retry_after) => ApiError::TooManyRequests(retry_after),
            LimitError::Store(e) => e.into(),
        }
    }
}
