//! Accounts: registration, login, and the current user.
//! Spec: <https://realworld-docs.netlify.app/specifications/backend/endpoints/>

use serde::{Deserialize, Deserializer, Serialize};
use warp::http::StatusCode;
use warp::reply::Response;

use super::account::{change_account, sign_in, sign_up};
use super::error::ApiError;
use super::extract::parse_json;
use super::reply::json;
use super::route::{route, Call, Reply, Route};
use crate::domain::user::UserChanges;
use crate::domain::views::UserRecord;

pub const ROUTES: &[Route] = &[
    route!(POST "/api/users/login" => login),
    route!(POST "/api/users" => register),
    route!(GET "/api/user" => current_user),
    route!(PUT "/api/user" => update_user),
];

#[derive(Deserialize)]
struct UserEnvelope<T> {
    user: T,
}

#[derive(Deserialize)]
struct RegisterDto {
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize)]
struct LoginDto {
    email: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize)]
struct UpdateDto {
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
    /// `null` clears the field; absence leaves it alone.
    #[serde(default, deserialize_with = "present")]
    bio: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    image: Option<Option<String>>,
}

/// Distinguishes `"field": null` (Some(None)) from an absent field (None).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The account owner's view, with a token. Never the password hash.
#[derive(Serialize)]
struct UserBody<'a> {
    user: UserJson<'a>,
}

#[derive(Serialize)]
struct UserJson<'a> {
    email: &'a str,
    token: &'a str,
    username: &'a str,
    bio: &'a str,
    image: &'a str,
}

fn user_reply(status: StatusCode, user: &UserRecord, token: &str) -> Response {
    json(
        status,
        &UserBody {
            user: UserJson {
                email: &user.email,
                token,
                username: &user.username,
                bio: &user.bio,
                image: &user.image,
            },
        },
    )
}

/// 201 with the new user and a token. Valid attempts are counted per
/// client address (each costs a password hash).
async fn register(mut call: Call) -> Reply {
    let body = call.body().await?;
    call.viewer().await?;
    let dto: UserEnvelope<RegisterDto> = parse_json(&body)?;
    let u = dto.user;
    let (user, token) = sign_up(
        &call.ctx,
        &call.client(),
        u.username.as_deref(),
        u.email.as_deref(),
        u.password.as_deref(),
    )
    .await?;
    Ok(user_reply(StatusCode::CREATED, &user, &token))
}

/// The same 401 for an unknown email and a wrong password, after the same
/// amount of hashing work. Failures are counted per email and per client
/// address; past either limit, 429.
async fn login(mut call: Call) -> Reply {
    let body = call.body().await?;
    call.viewer().await?;
    let dto: UserEnvelope<LoginDto> = parse_json(&body)?;
    let (user, token) =
        sign_in(&call.ctx, &call.client(), dto.user.email, dto.user.password).await?;
    Ok(user_reply(StatusCode::OK, &user, &token))
}

/// The caller, with the token they presented.
async fn current_user(call: Call) -> Reply {
    let caller = call.caller().await?;
    Ok(user_reply(StatusCode::OK, &caller.user, &caller.token))
}

/// Changes any of the fields; a new password revokes every earlier token,
/// so the reply carries a fresh one.
async fn update_user(mut call: Call) -> Reply {
    let body = call.body().await?;
    let caller = call.caller().await?;
    let dto: UserEnvelope<UpdateDto> = parse_json(&body)?;
    let u = dto.user;
    let changes = UserChanges::parse(
        u.username.as_deref(),
        u.email.as_deref(),
        u.password.as_deref(),
        u.bio.as_ref().map(Option::as_deref),
        u.image.as_ref().map(Option::as_deref),
    )
    .map_err(ApiError::Unprocessable)?;
    let (user, token) = change_account(&call.ctx, caller.id(), changes).await?;
    Ok(user_reply(StatusCode::OK, &user, &token))
}
