//! `/search?q=`: full-text search, the results with their matched words
//! marked. A plain GET form (the box in the navigation bar), so it works
//! without JavaScript and every search has its own link.

use askama::Template;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use warp::http::StatusCode;
use warp::reply::Response;

use crate::domain::search::SearchQuery;
use crate::http::route::{Call, Route};
use crate::http::ApiError;
use crate::web::render::{html, page, Frame};
use crate::web::session::Session;
use crate::web::views::{self, Marks, PageLink, PreviewVm};

pub const ROUTES: &[Route] = &[page!(GET "/search" => show_results)];

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    frame: Frame,
    /// The query as typed; empty before a search.
    query: String,
    /// Why the query cannot be run, said on the page (not an error page:
    /// the box is right there to try again).
    problem: Option<String>,
    count: i64,
    /// Only the newest matches are ranked, and this many at most counted.
    capped: bool,
    previews: Vec<PreviewVm>,
    pager: Vec<PageLink>,
    next: String,
}

async fn show_results(call: &mut Call, session: &Session) -> Result<Response, ApiError> {
    let query = call.query()?;
    let raw = query.get("q").unwrap_or_default().to_owned();
    let number = views::page_number(query.get("page"));
    let parsed = match raw.trim() {
        "" => Err(None),
        _ => SearchQuery::parse(&raw).map_err(Some),
    };
    let viewer = session.id();
    let results = match &parsed {
        Ok(search) => {
            let search = search.clone();
            let page = views::store_page(number);
            Some(
                call.read(move |store| store.search_articles(viewer, &search, page))
                    .await?,
            )
        }
        Err(_) => None,
    };
    let title = match raw.trim() {
        "" => "Search".to_owned(),
        typed => format!("Search: {typed}"),
    };
    let mut frame = Frame::new(call, session, title, "search");
    frame.search = raw.clone();
    frame.noindex = true;
    let (count, previews, pager) = match (&parsed, results) {
        (Ok(search), Some(results)) => {
            let base_query = format!("q={}", utf8_percent_encode(&raw, NON_ALPHANUMERIC));
            let pager = views::pager(results.articles_count, number, |n| {
                frame.link(&views::with_page("/search", &base_query, n))
            });
            let previews = results
                .articles
                .iter()
                .map(|article| {
                    let mut preview = views::preview(&frame, article);
                    preview.marks = Some(Marks {
                        title: views::runs(search, &article.title),
                        description: views::runs(search, &article.description),
                    });
                    preview
                })
                .collect();
            (results.articles_count, previews, pager)
        }
        _ => (0, Vec::new(), Vec::new()),
    };
    let status = match &parsed {
        Err(Some(_)) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
    };
    let page = SearchPage {
        query: raw,
        problem: parsed.err().flatten(),
        count,
        capped: count >= crate::domain::search::RANKED_MAX,
        previews,
        pager,
        next: views::here(call),
        frame,
    };
    html(status, &page)
}
