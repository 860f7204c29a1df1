//! What handlers read from a request, through [`super::route::Call`]: the
//! body (with its size limit), the caller's identity, query pairs and the
//! client's address. Each returns a `Result`, and the handler takes them in
//! the policy's order (413, then 401, then 404, 403, 422).

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use warp::http::HeaderMap;
use warp::Buf;

use super::context::Ctx;
use super::error::ApiError;
use crate::auth::jwt::{self, TokenError};
use crate::domain::views::UserRecord;
use crate::domain::UserId;

/// The caller, authenticated by a valid, unrevoked token.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub user: UserRecord,
    /// The token as presented, returned again by `GET /user`.
    pub token: String,
    /// When that token expires, in Unix seconds.
    pub expires_at: u64,
}

impl AuthUser {
    pub fn id(&self) -> UserId {
        self.user.id
    }
}

pub type BodyResult = Result<Bytes, ApiError>;
/// `Ok(None)` is an anonymous caller; a present but bad token is `Err`.
pub type AuthResult = Result<Option<AuthUser>, ApiError>;

/// Reads the whole body, refusing more than `limit` bytes (413), whether
/// the length is declared or the body is chunked.
pub(super) async fn read_limited<S, B>(headers: &HeaderMap, stream: S, limit: u64) -> BodyResult
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let declared = headers
        .get(warp::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let mut buffer = BytesMut::with_capacity(declared.unwrap_or(0) as usize);
    let mut stream = std::pin::pin!(stream);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::Unprocessable(vec!["the request body could not be read".into()])
        })?;
        if (buffer.len() + chunk.remaining()) as u64 > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        buffer.put(chunk);
    }
    Ok(buffer.freeze())
}

/// Parses a JSON body, turning serde's complaint into a 422 a person can read.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::Unprocessable(vec![
            "request body is empty; expected a JSON object".into(),
        ]));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if !inner.is_data() {
            format!("request body is not valid JSON: {inner}")
        } else if path == "." {
            format!("request body has an unexpected shape: {inner}")
        } else {
            format!("request body has an unexpected shape at {path}: {inner}")
        };
        ApiError::Unprocessable(vec![message])
    })?;
    deserializer.end().map_err(|e| {
        ApiError::Unprocessable(vec![format!("request body is not valid JSON: {e}")])
    })?;
    Ok(value)
}

/// Identifies the caller from `Authorization: Token <jwt>` (or `Bearer`).
/// The token's user must still exist and its credential version must match.
pub(super) async fn authenticate(ctx: &Ctx, headers: &HeaderMap) -> AuthResult {
    let Some(value) = headers.get(warp::http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer")
        })
        .map(|(_, token)| token.trim().to_owned())
        .ok_or(ApiError::Unauthorized(
            "authorization header must be 'Token <jwt>' or 'Bearer <jwt>'",
        ))?;
    verify_token(ctx, token).await.map(Some)
}

/// The user a token speaks for: it must verify, its user must still exist,
/// its credential version must be current (a password change revokes
/// every earlier token, and every session that holds one), and it must not
/// have been signed out. One query answers the last three.
pub async fn verify_token(ctx: &Ctx, token: String) -> Result<AuthUser, ApiError> {
    let claims = ctx.tokens.verify(&token).map_err(|e| match e {
        TokenError::Expired => ApiError::Unauthorized("token has expired; log in again"),
        TokenError::Invalid => ApiError::Unauthorized("token is invalid"),
    })?;
    let digest = jwt::digest(&token);
    let (user, signed_out) = ctx
        .db
        .run(move |store| store.token_user(claims.user, &digest))
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound(_) => {
                ApiError::Unauthorized("token is invalid: its user no longer exists")
            }
            other => ApiError::from(other),
        })?;
    if user.credential_version != claims.credential_version {
        return Err(ApiError::Unauthorized(
            "token was revoked by a password change; log in again",
        ));
    }
    if signed_out {
        return Err(ApiError::Unauthorized(
            "token was revoked: its session was signed out; log in again",
        ));
    }
    Ok(AuthUser {
        user,
        token,
        expires_at: claims.expires_at,
    })
}

/// Decoded `key=value` pairs; the first occurrence of a key wins, and empty
/// values count as absent.
pub struct QueryPairs(Vec<(String, String)>);

impl QueryPairs {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        serde_urlencoded::from_str(raw)
            .map(QueryPairs)
            .map_err(|_| {
                ApiError::Unprocessable(vec!["query string is not valid URL encoding".into()])
            })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}
