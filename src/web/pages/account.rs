//! Signing up, in and out, and the account's settings.

use askama::Template;
use serde::Deserialize;
use warp::http::header::SET_COOKIE;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::domain::user::UserChanges;
use crate::http::account::{change_account, sign_in, sign_out, sign_up};
use crate::http::route::{Call, Route};
use crate::http::ApiError;
use crate::web::form;
use crate::web::render::{html, page, redirect, Frame};
use crate::web::session::{sign_in_cookie, sign_out_cookie, Session};

pub const ROUTES: &[Route] = &[
    page!(GET "/login" => show_login),
    page!(POST "/login" => post_login),
    page!(GET "/register" => show_register),
    page!(POST "/register" => post_register),
    page!(POST "/logout" => post_logout),
    page!(GET "/settings" => show_settings),
    page!(POST "/settings" => post_settings),
];

/// The sign-in and sign-up forms share one template.
#[derive(Template)]
#[template(path = "auth.html")]
struct AuthPage {
    frame: Frame,
    register: bool,
    errors: Vec<String>,
    username: String,
    email: String,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    frame: Frame,
    errors: Vec<String>,
    image: String,
    username: String,
    bio: String,
    email: String,
}

/// Every field a form may send; what each form uses is its own business.
/// The password is never shown again.
#[derive(Deserialize, Default)]
struct AccountForm {
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
    bio: Option<String>,
    image: Option<String>,
}

fn auth_page(
    call: &Call,
    session: &Session,
    register: bool,
    errors: Vec<String>,
    typed: AccountForm,
) -> AuthPage {
    let (title, here) = if register {
        ("Sign up", "register")
    } else {
        ("Sign in", "login")
    };
    AuthPage {
        frame: Frame::new(call, session, title, here),
        register,
        errors,
        username: typed.username.unwrap_or_default(),
        email: typed.email.unwrap_or_default(),
    }
}

async fn show_login(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    if call.query()?.get("check") == Some("cookie") {
        return cookie_check(call, session);
    }
    let page = auth_page(call, session, false, Vec::new(), AccountForm::default());
    html(StatusCode::OK, &page)
}

async fn show_register(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    let page = auth_page(call, session, true, Vec::new(), AccountForm::default());
    html(StatusCode::OK, &page)
}

/// The form again, with what went wrong above it: invalid input, a wrong
/// password, too many attempts. Other errors get the error page.
fn form_problem(error: ApiError) -> Result<(StatusCode, Vec<String>), ApiError> {
    match error {
        ApiError::Unprocessable(_) | ApiError::TooManyRequests(_) => {
            Ok((error.status(), error.messages()))
        }
        // A failed sign-in is not a missing session: show the form again.
        ApiError::Unauthorized(message) => Ok((StatusCode::UNAUTHORIZED, vec![message.to_owned()])),
        other => Err(other),
    }
}

/// Signed in: a cookie with the new token, and on to the page that sent
/// the visitor to sign in (`next`), else the home page.
///
/// A browser that reached this server over plain HTTP from another machine
/// drops a `Secure` cookie without a word, and would land on the next page
/// still signed out. So in that case it goes through `/login?check=cookie`
/// first, which looks whether the cookie came back and says what to do if
/// not ([`cookie_check`]).
fn signed_in(call: &Call, token: &str) -> Response {
    let next = form::next_in_query(call).unwrap_or_else(|| "/".to_owned());
    let to = if call.ctx.site.cookie_secure.dropped_by(call.client_addr()) {
        format!("/login?check=cookie&next={}", form::encoded(&next))
    } else {
        next
    };
    let mut response = redirect(call, &to);
    response
        .headers_mut()
        .insert(SET_COOKIE, sign_in_cookie(call, token));
    response
}

/// After [`signed_in`]'s detour: on to the next page if the cookie came
/// back; else the sign-in form, saying why it did not stick and which
/// setting mends it. The log says it too, for the operator.
fn cookie_check(call: &Call, session: &Session) -> Result<Response, ApiError> {
    if session.user.is_some() {
        let next = form::next_in_query(call).unwrap_or_else(|| "/".to_owned());
        return Ok(redirect(call, &next));
    }
    if !call.ctx.site.cookie_secure.dropped_by(call.client_addr()) {
        // Not the case this check is for: the plain sign-in form.
        let page = auth_page(call, session, false, Vec::new(), AccountForm::default());
        return html(StatusCode::OK, &page);
    }
    tracing::warn!(
        "a browser did not keep the sign-in cookie: it is Secure (cookie_secure), and the \
         browser reached this server over plain HTTP from another machine; serve the app over \
         HTTPS, or set CONDUIT_COOKIE_SECURE=never if it is only ever reached over plain HTTP"
    );
    let errors = vec![
        "You signed in, but your browser did not keep the sign-in: this site sends its \
         sign-in cookie only over HTTPS, and you reached it over plain HTTP."
            .to_owned(),
        "Open the site with https:// instead. If it is only ever served over plain HTTP, \
         whoever runs it can set cookie_secure = \"never\" (CONDUIT_COOKIE_SECURE=never)."
            .to_owned(),
    ];
    let page = auth_page(call, session, false, errors, AccountForm::default());
    html(StatusCode::OK, &page)
}

async fn post_login(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    let mut typed: AccountForm = form::parse(&call.body().await?)?;
    let password = typed.password.take();
    match sign_in(&call.ctx, &call.client(), typed.email.clone(), password).await {
        Ok((_, token)) => Ok(signed_in(call, &token)),
        Err(error) => {
            let (status, errors) = form_problem(error)?;
            html(status, &auth_page(call, session, false, errors, typed))
        }
    }
}

async fn post_register(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    let mut typed: AccountForm = form::parse(&call.body().await?)?;
    let password = typed.password.take();
    let result = sign_up(
        &call.ctx,
        &call.client(),
        typed.username.as_deref(),
        typed.email.as_deref(),
        password.as_deref(),
    )
    .await;
    match result {
        Ok((_, token)) => Ok(signed_in(call, &token)),
        Err(error) => {
            let (status, errors) = form_problem(error)?;
            html(status, &auth_page(call, session, true, errors, typed))
        }
    }
}

/// Ends this session on the server, not only in this browser: the token
/// the cookie holds is refused from now on, by every replica, while the
/// account's other sessions go on.
async fn post_logout(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    if let Some(user) = &session.user {
        sign_out(&call.ctx, user).await?;
    }
    let mut response = redirect(call, "/");
    response
        .headers_mut()
        .insert(SET_COOKIE, sign_out_cookie(call));
    Ok(response)
}

async fn show_settings(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    let user = &session.require()?.user;
    let page = SettingsPage {
        frame: Frame::new(call, session, "Settings", "settings"),
        errors: Vec::new(),
        image: user.image.clone(),
        username: user.username.clone(),
        bio: user.bio.clone(),
        email: user.email.clone(),
    };
    html(StatusCode::OK, &page)
}

/// Every field is sent; an empty password leaves it unchanged. A new
/// password revokes every session: this one gets a fresh token (else the
/// cookie stays as it is, so signing out still ends this very session).
async fn post_settings(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    let id = session.require()?.id();
    let typed: AccountForm = form::parse(&call.body().await?)?;
    let changes = UserChanges::parse(
        Some(typed.username.as_deref().unwrap_or_default()),
        Some(typed.email.as_deref().unwrap_or_default()),
        typed.password.as_deref().filter(|p| !p.is_empty()),
        Some(typed.bio.as_deref()),
        Some(typed.image.as_deref()),
    )
    .map_err(ApiError::Unprocessable);
    let result = match changes {
        Ok(changes) => {
            let new_password = changes.password.is_some();
            change_account(&call.ctx, id, changes)
                .await
                .map(|(user, token)| (user, new_password.then_some(token)))
        }
        Err(error) => Err(error),
    };
    match result {
        Ok((user, token)) => {
            let mut response = redirect(call, &format!("/profile/{}", user.username));
            if let Some(token) = token {
                response
                    .headers_mut()
                    .insert(SET_COOKIE, sign_in_cookie(call, &token));
            }
            Ok(response)
        }
        Err(error) => {
            let (status, errors) = form_problem(error)?;
            let page = SettingsPage {
                frame: Frame::new(call, session, "Settings", "settings"),
                errors,
                image: typed.image.unwrap_or_default(),
                username: typed.username.unwrap_or_default(),
                bio: typed.bio.unwrap_or_default(),
                email: typed.email.unwrap_or_default(),
            };
            html(status, &page)
        }
    }
}
