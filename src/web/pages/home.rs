//! `/`: the feeds (yours, global, or one tag's) and the popular tags.

use askama::Template;
use warp::http::StatusCode;
use warp::reply::Response;

use crate::domain::article::ArticleFilter;
use crate::http::route::{Call, Route};
use crate::http::ApiError;
use crate::web::feeds;
use crate::web::render::{html, page, Frame};
use crate::web::session::Session;
use crate::web::views::{self, PageLink, PreviewVm, TagVm};

pub const ROUTES: &[Route] = &[page!(GET "/" => show_home)];

/// Tags shown in the sidebar at most.
const POPULAR_TAGS: usize = 20;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Following,
    Global,
    Tag,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    frame: Frame,
    /// `following`, `global` or `tag`: which tab is open.
    tab: &'static str,
    tag: Option<String>,
    tags: Vec<TagVm>,
    previews: Vec<PreviewVm>,
    pager: Vec<PageLink>,
    next: String,
}

/// Signed in, "Your Feed" opens first; `?feed=global` and `?tag=` pick the
/// others. The articles and the tags come from one trip to the store.
async fn show_home(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    let query = call.query()?;
    let number = views::page_number(query.get("page"));
    let tag = query.get("tag").map(str::to_owned);
    let viewer = session.id();
    let tab = match (&tag, query.get("feed"), viewer) {
        (Some(_), _, _) => Tab::Tag,
        (None, Some("global"), _) | (None, _, None) => Tab::Global,
        (None, _, Some(_)) => Tab::Following,
    };
    let page = views::store_page(number);
    let filter = ArticleFilter {
        tag: tag.clone(),
        author: None,
        favorited: None,
    };
    let (articles, tags) = call
        .read(move |store| {
            let articles = match (tab, viewer) {
                (Tab::Following, Some(viewer)) => store.feed(viewer, page)?,
                _ => store.list_articles(viewer, &filter, page)?,
            };
            Ok((articles, store.tags()?))
        })
        .await?;
    let mut frame = Frame::new(call, session, "Home", "home")
        .with_feed("Conduit: the newest articles".into(), feeds::BLOG_PATH);
    if let Some(tag) = &tag {
        frame = frame.with_feed(format!("Articles tagged {tag}"), &feeds::tag_path(tag));
    }
    // What a guest sees here: the tag's list or the global one, this page.
    let listed = match &tag {
        Some(tag) => format!(
            "tag={}",
            percent_encoding::utf8_percent_encode(tag, percent_encoding::NON_ALPHANUMERIC)
        ),
        None => String::new(),
    };
    frame.canonical = Some(
        call.ctx
            .site
            .absolute(&views::with_page("/", &listed, number)),
    );
    let base_query = match tab {
        Tab::Tag => listed.clone(),
        Tab::Following => "feed=following".to_owned(),
        Tab::Global => "feed=global".to_owned(),
    };
    let pager = views::pager(articles.articles_count, number, |n| {
        frame.link(&views::with_page("/", &base_query, n))
    });
    let page = HomePage {
        tab: match tab {
            Tab::Following => "following",
            Tab::Global => "global",
            Tab::Tag => "tag",
        },
        tags: tags
            .iter()
            .take(POPULAR_TAGS)
            .map(|t| views::tag(&frame, t))
            .collect(),
        previews: views::previews(&frame, &articles.articles),
        pager,
        next: views::here(call),
        tag,
        frame,
    };
    html(StatusCode::OK, &page)
}
