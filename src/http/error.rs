//! The one error type of the HTTP layer. Every variant renders as the
//! RealWorld error body `{"errors":{"body":["..."]}}`, so clients parse one
//! shape whatever went wrong.

use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::{Reply, Response};

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
    MethodNotAllowed(&'static str),
    /// 413: the body is larger than the configured limit.
    PayloadTooLarge(u64),
    /// 422: invalid input, duplicates, malformed JSON; one message per problem.
    Unprocessable(Vec<String>),
    /// 503: the database could not be reached in time; worth retrying.
    Unavailable,
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
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn messages(&self) -> Vec<String> {
        match self {
            ApiError::Unauthorized(m) => vec![(*m).to_owned()],
            ApiError::Forbidden(m) | ApiError::NotFound(m) => vec![m.clone()],
            ApiError::MethodNotAllowed(allow) => {
                vec![format!("method not allowed here; use {allow}")]
            }
            ApiError::PayloadTooLarge(limit) => {
                vec![format!("request body is larger than {limit} bytes")]
            }
            ApiError::Unprocessable(problems) => problems.clone(),
            ApiError::Unavailable => {
                vec!["the service is temporarily unavailable; try again shortly".into()]
            }
            ApiError::Internal(_) => vec!["internal server error".into()],
        }
    }

    /// Maps a store error for a resource named `what` ("article", "profile").
    pub fn store(what: &'static str) -> impl Fn(StoreError) -> ApiError {
        move |e| match e {
            StoreError::NotFound => ApiError::NotFound(format!("{what} not found")),
            StoreError::Forbidden => {
                ApiError::Forbidden(format!("only the author may change this {what}"))
            }
            other => ApiError::from(other),
        }
    }
}

/// The single mapping point from storage failures to HTTP meaning.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("not found".into()),
            StoreError::Forbidden => ApiError::Forbidden("forbidden".into()),
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
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                ApiError::Unavailable
            }
            StoreError::Backend(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<HashError> for ApiError {
    fn from(e: HashError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl Reply for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        let body = serde_json::json!({ "errors": { "body": self.messages() } });
        let mut response = super::json(self.status(), &body);
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
            }
            ApiError::MethodNotAllowed(allow) => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            ApiError::Unavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}
