//! `/article/:slug`: the article rendered from markdown, its comments, and
//! the posts under it (favorite, delete, comment).

use askama::Template;
use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::domain::comment::parse_comment_body;
use crate::http::route::{Call, Route};
use crate::http::ApiError;
use crate::web::feeds;
use crate::web::form;
use crate::web::markdown::to_safe_html;
use crate::web::render::{html, page, redirect, web_image, Card, Frame};
use crate::web::session::Session;
use crate::web::views::{self, AuthorVm, PreviewVm};

pub const ROUTES: &[Route] = &[
    page!(GET "/article/:slug" => show_article),
    page!(POST "/article/:slug/favorite" => post_favorite),
    page!(POST "/article/:slug/unfavorite" => post_unfavorite),
    page!(POST "/article/:slug/delete" => post_delete),
    page!(POST "/article/:slug/comments" => post_comment),
    page!(POST "/article/:slug/comments/:id/delete" => post_delete_comment),
];

pub struct CommentVm {
    pub id: i64,
    pub body: String,
    pub date: String,
    pub author: AuthorVm,
    /// The viewer wrote it, so may delete it.
    pub mine: bool,
}

#[derive(Template)]
#[template(path = "article.html")]
struct ArticlePage {
    frame: Frame,
    /// The article as in lists (title, author, tags, favorites).
    a: PreviewVm,
    /// The body, rendered and cleaned.
    body_html: String,
    /// The viewer follows the author.
    following: bool,
    /// The viewer is the author.
    mine: bool,
    edit_href: String,
    comments: Vec<CommentVm>,
    /// Problems with a comment just posted, and its text.
    errors: Vec<String>,
    draft: String,
    next: String,
}

#[derive(Deserialize)]
struct CommentForm {
    body: Option<String>,
}

async fn show_article(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    article_page(call, session, StatusCode::OK, Vec::new(), String::new()).await
}

/// The article and its comments, from one trip to the store.
async fn article_page(
    call: &Call,
    session: &Session,
    status: StatusCode,
    errors: Vec<String>,
    draft: String,
) -> Result<Response, ApiError> {
    let viewer = session.id();
    let slug = call.param("slug");
    let (article, comments) = call
        .read(move |store| {
            Ok((
                store.article(viewer, &slug)?,
                store.comments(viewer, &slug)?,
            ))
        })
        .await?;
    let site = &call.ctx.site;
    let url = site.absolute(&format!("/article/{}", article.slug));
    let mut frame = Frame::new(call, session, article.title.clone(), "").with_feed(
        format!("Articles by {}", article.author.username),
        &feeds::author_path(&article.author.username),
    );
    frame.card = Some(Card {
        kind: "article",
        title: article.title.clone(),
        description: article.description.clone(),
        author: Some(article.author.username.clone()),
        url: url.clone(),
        image: web_image(&article.author.image).map(str::to_owned),
    });
    frame.canonical = Some(url);
    let me = frame.nav.as_ref().map(|nav| nav.username.as_str());
    let page = ArticlePage {
        a: views::preview(&frame, &article),
        body_html: to_safe_html(article.body.as_deref().unwrap_or_default()),
        following: article.author.following,
        mine: me == Some(article.author.username.as_str()),
        edit_href: frame.link(&format!("/editor/{}", article.slug)),
        comments: comments
            .iter()
            .map(|c| CommentVm {
                id: c.id,
                body: c.body.clone(),
                date: c.created_at.to_long_date(),
                author: views::author(&frame, &c.author),
                mine: me == Some(c.author.username.as_str()),
            })
            .collect(),
        errors,
        draft,
        next: views::here(call),
        frame,
    };
    html(status, &page)
}

async fn post_favorite(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    set_favorite(call, session, true).await
}

async fn post_unfavorite(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    set_favorite(call, session, false).await
}

/// Then back to the page the button was on (`next`), else the article.
async fn set_favorite(call: &mut Call, session: &Session, on: bool) -> Result<Response, ApiError> {
    let user = session.require()?.id();
    let slug = call.param("slug");
    let next = form::next_after_action(call, &format!("/article/{slug}")).await?;
    call.ctx
        .db
        .run(move |store| {
            if on {
                store.favorite(user, &slug)
            } else {
                store.unfavorite(user, &slug)
            }
        })
        .await?;
    Ok(redirect(call, &next))
}

/// The author's only; then home.
async fn post_delete(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    let editor = session.require()?.id();
    let slug = call.param("slug");
    call.ctx
        .db
        .run(move |store| store.delete_article(editor, &slug))
        .await?;
    Ok(redirect(call, "/"))
}

/// A blank comment shows the article again with the problem above the form.
async fn post_comment(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    let author = session.require()?.id();
    let typed: CommentForm = form::parse(&call.body().await?)?;
    let slug = call.param("slug");
    match parse_comment_body(typed.body.as_deref()) {
        Ok(text) => {
            let comment = call
                .ctx
                .db
                .run(move |store| store.add_comment(author, &slug, &text))
                .await?;
            let to = format!("/article/{}#comment-{}", call.param("slug"), comment.id);
            Ok(redirect(call, &to))
        }
        Err(errors) => {
            let draft = typed.body.unwrap_or_default();
            article_page(
                call,
                session,
                StatusCode::UNPROCESSABLE_ENTITY,
                errors,
                draft,
            )
            .await
        }
    }
}

/// The comment's author only.
async fn post_delete_comment(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    let user = session.require()?.id();
    let slug = call.param("slug");
    let id = call
        .param("id")
        .parse::<i64>()
        .map_err(|_| ApiError::NotFound("comment not found".into()))?;
    let back = format!("/article/{slug}");
    call.ctx
        .db
        .run(move |store| store.delete_comment(user, &slug, id))
        .await?;
    Ok(redirect(call, &back))
}
