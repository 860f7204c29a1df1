//! `/profile/:username` and its favorites, and following.

use askama::Template;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::domain::article::ArticleFilter;
use crate::http::route::{Call, Route};
use crate::http::ApiError;
use crate::web::feeds;
use crate::web::form;
use crate::web::render::{html, page, redirect, web_image, Card, Frame};
use crate::web::session::Session;
use crate::web::views::{self, PageLink, PreviewVm};

pub const ROUTES: &[Route] = &[
    page!(GET "/profile/:username" => show_articles),
    page!(GET "/profile/:username/favorites" => show_favorites),
    page!(POST "/profile/:username/follow" => post_follow),
    page!(POST "/profile/:username/unfollow" => post_unfollow),
];

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    frame: Frame,
    username: String,
    bio: String,
    image: String,
    /// The profile's own link (its articles tab).
    href: String,
    following: bool,
    /// The viewer's own profile.
    mine: bool,
    /// Which tab is open: the user's articles, or those they favorited.
    favorites: bool,
    previews: Vec<PreviewVm>,
    pager: Vec<PageLink>,
    next: String,
}

async fn show_articles(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    profile_page(call, session, false).await
}

async fn show_favorites(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    profile_page(call, session, true).await
}

/// The profile and one page of its articles, from one trip to the store.
async fn profile_page(
    call: &Call,
    session: &Session,
    favorites: bool,
) -> Result<Response, ApiError> {
    let viewer = session.id();
    let username = call.param("username");
    let number = views::page_number(call.query()?.get("page"));
    let page = views::store_page(number);
    let (profile, articles) = call
        .read(move |store| {
            let profile = store.profile(viewer, &username)?;
            let filter = ArticleFilter {
                tag: None,
                author: (!favorites).then(|| profile.username.clone()),
                favorited: favorites.then(|| profile.username.clone()),
            };
            let articles = store.list_articles(viewer, &filter, page)?;
            Ok((profile, articles))
        })
        .await?;
    let mut frame = Frame::new(call, session, profile.username.clone(), "profile").with_feed(
        format!("Articles by {}", profile.username),
        &feeds::author_path(&profile.username),
    );
    let site = &call.ctx.site;
    let url = site.absolute(&format!("/profile/{}", profile.username));
    frame.card = Some(Card {
        kind: "profile",
        title: profile.username.clone(),
        description: match profile.bio.as_str() {
            "" => format!("Articles by {} on Conduit", profile.username),
            bio => bio.to_owned(),
        },
        author: None,
        url,
        image: web_image(&profile.image).map(str::to_owned),
    });
    let href = frame.link(&format!("/profile/{}", profile.username));
    let tab_path = if favorites {
        format!("/profile/{}/favorites", profile.username)
    } else {
        format!("/profile/{}", profile.username)
    };
    // Each tab and page lists other articles: each is its own page.
    frame.canonical = Some(site.absolute(&views::with_page(&tab_path, "", number)));
    let pager = views::pager(articles.articles_count, number, |n| {
        frame.link(&views::with_page(&tab_path, "", n))
    });
    let mine = frame.nav.as_ref().map(|nav| nav.username.as_str()) == Some(&profile.username);
    let page = ProfilePage {
        image: frame.avatar(&profile.image),
        username: profile.username,
        bio: profile.bio,
        href,
        following: profile.following,
        mine,
        favorites,
        previews: views::previews(&frame, &articles.articles),
        pager,
        next: views::here(call),
        frame,
    };
    html(StatusCode::OK, &page)
}

async fn post_follow(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    set_following(call, session, true).await
}

async fn post_unfollow(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    set_following(call, session, false).await
}

/// Then back to the page the button was on (`next`), else the profile.
async fn set_following(call: &mut Call, session: &Session, on: bool) -> Result<Response, ApiError> {
    let user = session.require()?.id();
    let username = call.param("username");
    let next = form::next_after_action(call, &format!("/profile/{username}")).await?;
    call.ctx
        .db
        .run(move |store| {
            if on {
                store.follow(user, &username)
            } else {
                store.unfollow(user, &username)
            }
        })
        .await?;
    Ok(redirect(call, &next))
}
