//! For search engines: `/robots.txt`, which names the sitemap, and the
//! sitemap itself (sitemaps.org 0.9). `/sitemap.xml` is an index of pages
//! (`/sitemap.xml?articles=N`, `?profiles=N`), each listing the articles
//! (or profiles) of one block of ids, so no page grows past [`BLOCK`]
//! entries and each is read by a primary-key range, however large the
//! blog.

use std::fmt::Write as _;

use super::xml::escape;
use crate::domain::views::SitemapEntry;
use crate::http::conditional;
use crate::http::route::{route, Call, Reply, Route};
use crate::http::ApiError;

pub const ROUTES: &[Route] = &[
    route!(GET "/robots.txt" => robots),
    route!(GET "/sitemap.xml" => sitemap),
];

/// Ids per sitemap page (the protocol allows 50,000 URLs).
pub const BLOCK: i64 = 5000;

const XML: &str = "application/xml; charset=utf-8";

/// Crawlers may read pages and feeds; forms, the signed-in pages, search
/// results (endless, and each a copy of other pages) and the API are not
/// for them.
async fn robots(call: Call) -> Reply {
    let site = &call.ctx.site;
    let mut text = String::from("User-agent: *\n");
    for path in [
        "/api/",
        "/search",
        "/editor",
        "/settings",
        "/login",
        "/register",
    ] {
        let _ = writeln!(text, "Disallow: {}{path}", site.base_path);
    }
    let _ = writeln!(text, "\nSitemap: {}", site.absolute("/sitemap.xml"));
    Ok(conditional::document(
        call.headers(),
        "text/plain; charset=utf-8",
        text,
        None,
    ))
}

/// The index, or with `?articles=N` or `?profiles=N` one of its pages. The
/// pages stay beside the index at the root: a sitemap may only list URLs
/// below its own directory.
async fn sitemap(call: Call) -> Reply {
    let query = call.query()?;
    match (query.get("articles"), query.get("profiles")) {
        (None, None) => index(&call).await,
        (Some(page), None) => articles(&call, page_number(page)?).await,
        (None, Some(page)) => profiles(&call, page_number(page)?).await,
        (Some(_), Some(_)) => Err(ApiError::NotFound(
            "a sitemap page lists articles or profiles, not both".into(),
        )),
    }
}

/// The pages that list something: the blocks of ids that hold a row (the
/// first block of articles always, for the home page).
async fn index(call: &Call) -> Reply {
    let (mut articles, users) = call.read(|store| store.sitemap_blocks(BLOCK)).await?;
    if articles.first() != Some(&0) {
        articles.insert(0, 0);
    }
    let site = &call.ctx.site;
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for (kind, pages) in [("articles", articles), ("profiles", users)] {
        for page in pages {
            let _ = writeln!(
                xml,
                "<sitemap><loc>{}</loc></sitemap>",
                escape(&site.absolute(&format!("/sitemap.xml?{kind}={page}")))
            );
        }
    }
    xml.push_str("</sitemapindex>\n");
    Ok(conditional::document(call.headers(), XML, xml, None))
}

async fn articles(call: &Call, page: i64) -> Reply {
    let ids = page * BLOCK..(page + 1) * BLOCK;
    let entries = call.read(move |store| store.sitemap_articles(ids)).await?;
    // The home page leads the first page, so it is never empty.
    let home = (page == 0).then(|| ("/".to_owned(), None));
    let urls: Vec<_> = home
        .into_iter()
        .chain(
            entries
                .iter()
                .map(|e| (format!("/article/{}", e.key), e.updated_at)),
        )
        .collect();
    urlset(call, urls, &entries)
}

async fn profiles(call: &Call, page: i64) -> Reply {
    let ids = page * BLOCK..(page + 1) * BLOCK;
    let entries = call.read(move |store| store.sitemap_profiles(ids)).await?;
    let urls = entries
        .iter()
        .map(|e| (format!("/profile/{}", e.key), e.updated_at))
        .collect();
    urlset(call, urls, &entries)
}

/// A page number any id could need.
fn page_number(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| (0..i64::MAX / BLOCK).contains(n))
        .ok_or_else(|| ApiError::NotFound(format!("there is no sitemap page {raw}")))
}

/// A page of URLs; 404 when its block lists nothing (a sitemap must list
/// at least one URL).
fn urlset(
    call: &Call,
    urls: Vec<(String, Option<crate::domain::views::Timestamp>)>,
    entries: &[SitemapEntry],
) -> Reply {
    if urls.is_empty() {
        return Err(ApiError::NotFound("this sitemap page lists nothing".into()));
    }
    let site = &call.ctx.site;
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for (path, updated) in &urls {
        let _ = write!(xml, "<url><loc>{}</loc>", escape(&site.absolute(path)));
        if let Some(updated) = updated {
            let _ = write!(xml, "<lastmod>{}</lastmod>", updated.to_rfc3339());
        }
        xml.push_str("</url>\n");
    }
    xml.push_str("</urlset>\n");
    let newest = entries.iter().filter_map(|e| e.updated_at).max();
    Ok(conditional::document(call.headers(), XML, xml, newest))
}
