//! Signing up, in and out, and the account's settings.

use askama::Template;
use serde::Deserialize;
use warp::http::header::SET_COOKIE;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::domain::user::UserChanges;
use crate::http::route::{route, Call, Route};
use crate::http::users::{change_account, sign_in, sign_up};
use crate::http::ApiError;
use crate::web::csrf::check_same_origin;
use crate::web::form;
use crate::web::render::{html, page, redirect, Frame};
use crate::web::session::{sign_in_cookie, sign_out_cookie, Session};

pub const ROUTES: &[Route] = &[
    route!(GET "/login" => login_form),
    route!(POST "/login" => login),
    route!(GET "/register" => register_form),
    route!(POST "/register" => register),
    route!(POST "/logout" => logout),
    route!(GET "/settings" => settings_form),
    route!(POST "/settings" => settings),
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

page!(login_form => show_login);
page!(login => post_login);
page!(register_form => show_register);
page!(register => post_register);
page!(logout => post_logout);
page!(settings_form => show_settings);
page!(settings => post_settings);

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

/// Signed in: a cookie with the new token, and on to `to`.
fn signed_in(call: &Call, token: &str, to: &str) -> Response {
    let mut response = redirect(call, to);
    response
        .headers_mut()
        .insert(SET_COOKIE, sign_in_cookie(call, token));
    response
}

async fn post_login(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    check_same_origin(call.headers())?;
    let mut typed: AccountForm = form::parse(&call.body().await?)?;
    let password = typed.password.take();
    match sign_in(&call.ctx, &call.client(), typed.email.clone(), password).await {
        Ok((_, token)) => Ok(signed_in(call, &token, "/")),
        Err(error) => {
            let (status, errors) = form_problem(error)?;
            html(status, &auth_page(call, session, false, errors, typed))
        }
    }
}

async fn post_register(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    check_same_origin(call.headers())?;
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
        Ok((_, token)) => Ok(signed_in(call, &token, "/")),
        Err(error) => {
            let (status, errors) = form_problem(error)?;
            html(status, &auth_page(call, session, true, errors, typed))
        }
    }
}

async fn post_logout(call: &mut Call, _session: &Session) -> Result<Response, ApiError> {
    check_same_origin(call.headers())?;
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
/// password revokes every other session: this one gets a fresh token.
async fn post_settings(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    check_same_origin(call.headers())?;
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
        Ok(changes) => change_account(&call.ctx, id, changes).await,
        Err(error) => Err(error),
    };
    match result {
        Ok((user, token)) => Ok(signed_in(
            call,
            &token,
            &format!("/profile/{}", user.username),
        )),
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
