//! Account operations the API and the web app share: signing up, signing
//! in, signing out and changing an account. Each applies the domain's checks, the abuse
//! limits and the password hashing in the same order whoever calls, so a
//! form and a JSON client get the same answers.

use super::context::Ctx;
use super::error::ApiError;
use super::extract::AuthUser;
use crate::auth::jwt;
use crate::domain::user::{email_key, NewUser, UserChanges};
use crate::domain::views::UserRecord;
use crate::domain::UserId;

/// Registration as the API and the web app share it: the domain's checks,
/// the per-address limit, the hash, the store; then a token.
pub async fn sign_up(
    ctx: &Ctx,
    client: &str,
    username: Option<&str>,
    email: Option<&str>,
    password: Option<&str>,
) -> Result<(UserRecord, String), ApiError> {
    let new = NewUser::parse(username, email, password).map_err(ApiError::Unprocessable)?;
    // Counted whatever the outcome: each valid attempt costs a hash.
    ctx.limits.registrations_per_address.acquire(client).await?;
    let hash = ctx.passwords.hash(new.password.expose().to_owned()).await?;
    let user = ctx
        .db
        .run(move |store| store.create_user(&new, &hash))
        .await?;
    let token = ctx.tokens.issue(&user).map_err(ApiError::Internal)?;
    Ok((user, token))
}

/// Login as the API and the web app share it, limits included.
pub async fn sign_in(
    ctx: &Ctx,
    client: &str,
    email: Option<String>,
    password: Option<String>,
) -> Result<(UserRecord, String), ApiError> {
    let mut problems = Vec::new();
    let email = email.filter(|e| !e.trim().is_empty());
    let password = password.filter(|p| !p.is_empty());
    if email.is_none() {
        problems.push("email can't be blank".to_owned());
    }
    if password.is_none() {
        problems.push("password can't be blank".to_owned());
    }
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ApiError::Unprocessable(problems));
    };
    let key = email_key(&email);
    // Counted before hashing, so concurrent guesses cannot all slip past
    // the limit; forgiven unless the password turns out wrong.
    let attempt = ctx.limits.begin_login(&key, client).await?;
    let lookup = key.clone();
    let user = ctx
        .db
        .run(move |store| store.user_by_email(&lookup))
        .await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let verified = ctx.passwords.verify(password, hash).await?;
    match user {
        Some(user) if verified => {
            attempt.succeeded().await;
            let token = ctx.tokens.issue(&user).map_err(ApiError::Internal)?;
            Ok((user, token))
        }
        _ => {
            attempt.failed();
            Err(ApiError::Unauthorized("email or password is invalid"))
        }
    }
}

/// Ends the session of `user`'s token: it is refused from now on, by
/// every process on this database, while the account's other tokens (other
/// devices) stay good.
pub async fn sign_out(ctx: &Ctx, user: &AuthUser) -> Result<(), ApiError> {
    let digest = jwt::digest(&user.token);
    let expires_at = i64::try_from(user.expires_at).unwrap_or(i64::MAX);
    ctx.db
        .run(move |store| store.sign_out_token(&digest, expires_at))
        .await?;
    Ok(())
}

/// Applies validated changes to an account, hashing a new password (which
/// revokes earlier tokens); returns the account and a fresh token.
pub async fn change_account(
    ctx: &Ctx,
    id: UserId,
    changes: UserChanges,
) -> Result<(UserRecord, String), ApiError> {
    let hash = match &changes.password {
        Some(password) => Some(ctx.passwords.hash(password.expose().to_owned()).await?),
        None => None,
    };
    let user = ctx
        .db
        .run(move |store| store.update_user(id, &changes, hash.as_deref()))
        .await?;
    let token = ctx.tokens.issue(&user).map_err(ApiError::Internal)?;
    Ok((user, token))
}
