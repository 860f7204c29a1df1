//! For search engines: `/robots.txt`, which names the sitemap, and the
//! sitemap itself (sitemaps.org 0.9). `/sitemap.xml` is an index of pages,
//! each listing the articles (or profiles) of one block of ids, so no page
//! grows past [`BLOCK`] entries and each is read by a primary-key range,
//! however large the blog.

use std::fmt::Write as _;

use super::xml::escape;
use crate::domain::views::SitemapEntry;
use crate::http::conditional;
use crate::http::route::{route, Call, Reply, Route};
use crate::http::ApiError;

pub const ROUTES: &[Route] = &[
    route!(GET "/robots.txt" => robots),
    route!(GET "/sitemap.xml" => index),
    route!(GET "/sitemap/articles/:page" => articles),
    route!(GET "/sitemap/profiles/:page" => profiles),
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

async fn index(call: Call) -> Reply {
    let (articles, users) = call.read(|store| store.newest_ids()).await?;
    let site = &call.ctx.site;
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for (kind, newest) in [("articles", articles), ("profiles", users)] {
        for page in 0..=newest / BLOCK {
            let _ = writeln!(
                xml,
                "<sitemap><loc>{}</loc></sitemap>",
                escape(&site.absolute(&format!("/sitemap/{kind}/{page}.xml")))
            );
        }
    }
    xml.push_str("</sitemapindex>\n");
    Ok(conditional::document(call.headers(), XML, xml, None))
}

async fn articles(call: Call) -> Reply {
    let page = page_number(&call)?;
    let ids = page * BLOCK..(page + 1) * BLOCK;
    let entries = call.read(move |store| store.sitemap_articles(ids)).await?;
    // The home page leads the first page.
    let home = (page == 0).then(|| ("/".to_owned(), None));
    let urls = home.into_iter().chain(
        entries
            .iter()
            .map(|e| (format!("/article/{}", e.key), e.updated_at)),
    );
    Ok(urlset(&call, urls.collect(), &entries))
}

async fn profiles(call: Call) -> Reply {
    let page = page_number(&call)?;
    let ids = page * BLOCK..(page + 1) * BLOCK;
    let entries = call.read(move |store| store.sitemap_profiles(ids)).await?;
    let urls = entries
        .iter()
        .map(|e| (format!("/profile/{}", e.key), e.updated_at))
        .collect();
    Ok(urlset(&call, urls, &entries))
}

/// `N.xml` of the path, for N from 0 to the last page any id could need.
fn page_number(call: &Call) -> Result<i64, ApiError> {
    let raw = call.param("page");
    raw.strip_suffix(".xml")
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| (0..=i64::MAX / BLOCK - 1).contains(n))
        .ok_or_else(|| ApiError::NotFound(format!("there is no sitemap page {raw}")))
}

fn urlset(
    call: &Call,
    urls: Vec<(String, Option<crate::domain::views::Timestamp>)>,
    entries: &[SitemapEntry],
) -> warp::reply::Response {
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
    conditional::document(call.headers(), XML, xml, newest)
}
