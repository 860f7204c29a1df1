//! `/editor` (a new article) and `/editor/:slug` (its author's changes).

use askama::Template;
use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::domain::article::{ArticleChanges, NewArticle};
use crate::http::route::{Call, Route};
use crate::http::ApiError;
use crate::store;
use crate::web::form;
use crate::web::render::{
    back_to_form, html, page, problem_page, redirect, sent_size, size_in_words, Frame,
};
use crate::web::session::Session;

pub const ROUTES: &[Route] = &[
    page!(GET "/editor" => show_new),
    page!(POST "/editor" => post_new),
    page!(GET "/editor/:slug" => show_edit),
    page!(POST "/editor/:slug" => post_edit),
];

#[derive(Template)]
#[template(path = "editor.html")]
struct EditorPage {
    frame: Frame,
    /// Where the form posts: this page's own path.
    action: String,
    errors: Vec<String>,
    title: String,
    description: String,
    body: String,
    /// The tags as typed, separated by spaces or commas.
    tags: String,
}

/// The fields, named as in the API; `tagList` is one text field.
#[derive(Deserialize, Default)]
struct ArticleForm {
    title: Option<String>,
    description: Option<String>,
    body: Option<String>,
    #[serde(rename = "tagList")]
    tag_list: Option<String>,
}

fn editor_page(
    call: &Call,
    session: &Session,
    errors: Vec<String>,
    typed: ArticleForm,
) -> EditorPage {
    let frame = Frame::new(call, session, "Editor", "editor");
    EditorPage {
        action: frame.link(call.path()),
        frame,
        errors,
        title: typed.title.unwrap_or_default(),
        description: typed.description.unwrap_or_default(),
        body: typed.body.unwrap_or_default(),
        tags: typed.tag_list.unwrap_or_default(),
    }
}

async fn show_new(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    session.require()?;
    let page = editor_page(call, session, Vec::new(), ArticleForm::default());
    html(StatusCode::OK, &page)
}

async fn post_new(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    let author = session.require()?.id();
    let body = match call.body().await {
        Err(ApiError::PayloadTooLarge(limit)) => return Ok(too_large(call, session, limit)),
        body => body?,
    };
    let typed: ArticleForm = form::parse(&body)?;
    let tags = form::tag_list(typed.tag_list.as_deref().unwrap_or_default());
    let parsed = NewArticle::parse(
        typed.title.as_deref(),
        typed.description.as_deref(),
        typed.body.as_deref(),
        Some(&tags),
    );
    match parsed {
        Ok(article) => {
            let view = call
                .ctx
                .db
                .run(move |s| store::create_article(s, author, &article))
                .await?;
            Ok(redirect(call, &format!("/article/{}", view.slug)))
        }
        Err(errors) => html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &editor_page(call, session, errors, typed),
        ),
    }
}

/// The answer to an article over the size limit. Its form was not read,
/// so its fields cannot be shown again: the page says how large an article
/// may be, and leads back to the editor, where the browser kept the text.
fn too_large(call: &Call, session: &Session, limit: u64) -> Response {
    let sent = sent_size(call).map_or_else(String::new, |size| format!("; this one is {size}"));
    let messages = vec![
        format!(
            "An article can be at most {}, with its title, description and tags{sent}. \
             It was not saved.",
            size_in_words(limit)
        ),
        "Go back to the editor to shorten it: your browser's Back button keeps what you typed."
            .into(),
    ];
    problem_page(
        call,
        session,
        StatusCode::PAYLOAD_TOO_LARGE,
        "This article is too large",
        messages,
        back_to_form(call, "Back to the editor"),
    )
}

/// Only the author sees the form (403 for anyone else).
async fn show_edit(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    let editor = session.require()?.id();
    let slug = call.param("slug");
    let article = call
        .ctx
        .db
        .run(move |store| {
            store.check_article_editor(editor, &slug)?;
            store.article(Some(editor), &slug)
        })
        .await?;
    let typed = ArticleForm {
        title: Some(article.title),
        description: Some(article.description),
        body: article.body,
        tag_list: Some(article.tag_list.join(" ")),
    };
    html(
        StatusCode::OK,
        &editor_page(call, session, Vec::new(), typed),
    )
}

/// A new title gives a new slug; the redirect follows it.
async fn post_edit(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    let editor = session.require()?.id();
    let slug = call.param("slug");
    let body = match call.body().await {
        Err(ApiError::PayloadTooLarge(limit)) => return Ok(too_large(call, session, limit)),
        body => body?,
    };
    let typed: ArticleForm = form::parse(&body)?;
    let tags = form::tag_list(typed.tag_list.as_deref().unwrap_or_default());
    let parsed = ArticleChanges::parse(
        Some(typed.title.as_deref().unwrap_or_default()),
        Some(typed.description.as_deref().unwrap_or_default()),
        Some(typed.body.as_deref().unwrap_or_default()),
        Some(&tags),
    );
    match parsed {
        Ok(changes) => {
            let view = call
                .ctx
                .db
                .run(move |s| store::update_article(s, editor, &slug, &changes))
                .await?;
            Ok(redirect(call, &format!("/article/{}", view.slug)))
        }
        Err(errors) => {
            // 404 and 403 outrank the form's problems, as in the API.
            call.ctx
                .db
                .run(move |store| store.check_article_editor(editor, &slug))
                .await?;
            html(
                StatusCode::UNPROCESSABLE_ENTITY,
                &editor_page(call, session, errors, typed),
            )
        }
    }
}
