//! Who is signed in: a cookie holding the same token the API issues.
//!
//! The cookie is `HttpOnly` (no script reads it), `SameSite=Lax` (a
//! cross-site form post does not carry it), scoped to the app's base path,
//! and `Secure` as the `cookie_secure` setting says. The token inside is
//! checked exactly as an `Authorization` header is, so a password change
//! ends every earlier session too.

use warp::http::HeaderValue;

use crate::domain::UserId;
use crate::http::extract::{verify_token, AuthUser};
use crate::http::route::Call;
use crate::http::ApiError;

const COOKIE_NAME: &str = "conduit_session";

/// The request's signed-in user, if any.
pub struct Session {
    pub user: Option<AuthUser>,
    /// The request carried a cookie whose token no longer verifies
    /// (expired, revoked, or its user gone): the reply clears it.
    pub stale: bool,
}

impl Session {
    /// Reads the session cookie. A bad token makes a guest, never an error
    /// page; only an unreachable database is an error.
    pub async fn of(call: &Call) -> Result<Session, ApiError> {
        let Some(token) = cookie_value(call) else {
            return Ok(Session::guest());
        };
        match verify_token(&call.ctx, token).await {
            Ok(user) => Ok(Session {
                user: Some(user),
                stale: false,
            }),
            Err(ApiError::Unauthorized(_)) => Ok(Session {
                user: None,
                stale: true,
            }),
            Err(other) => Err(other),
        }
    }

    /// Nobody signed in.
    pub fn guest() -> Session {
        Session {
            user: None,
            stale: false,
        }
    }

    /// The signed-in user; a guest is sent to the sign-in page (see
    /// [`super::render::respond`]).
    pub fn require(&self) -> Result<&AuthUser, ApiError> {
        self.user
            .as_ref()
            .ok_or(ApiError::Unauthorized("sign in first"))
    }

    pub fn id(&self) -> Option<UserId> {
        self.user.as_ref().map(AuthUser::id)
    }
}

/// The token in the request's session cookie.
fn cookie_value(call: &Call) -> Option<String> {
    crate::http::site::request_cookie(call.headers(), COOKIE_NAME).filter(|value| !value.is_empty())
}

/// `Set-Cookie` that signs the browser in with `token` for the token's
/// lifetime.
pub fn sign_in_cookie(call: &Call, token: &str) -> HeaderValue {
    let max_age = call.ctx.tokens.lifetime_secs();
    call.ctx.site.cookie(
        call.client_addr().map(|c| c.ip),
        COOKIE_NAME,
        token,
        max_age,
    )
}

/// `Set-Cookie` that signs the browser out.
pub fn sign_out_cookie(call: &Call) -> HeaderValue {
    call.ctx
        .site
        .cookie(call.client_addr().map(|c| c.ip), COOKIE_NAME, "", 0)
}
