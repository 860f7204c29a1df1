//! Atom feeds (RFC 4287) for feed readers: the newest articles of the whole
//! blog (`/atom.xml`), of a tag (`/tag/:tag/atom.xml`) and of an author
//! (`/profile/:username/atom.xml`), each entry whole: title, author, dates,
//! tags as categories, the description as summary, and the body rendered
//! and cleaned as on the article's page.
//!
//! Links are absolute, built from `public_origin` and `public_base_path`,
//! never from the request's `Host`. Readers poll: each feed carries an
//! `ETag` and a `Last-Modified`, and a poll that finds nothing new is a 304.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::fmt::Write as _;

use super::markdown::to_safe_html;
use super::xml::escape;
use crate::domain::article::ArticleFilter;
use crate::domain::views::{FeedEntry, Timestamp};
use crate::http::conditional;
use crate::http::route::{route, Call, Reply, Route};
use crate::http::site::SiteConfig;

pub const ROUTES: &[Route] = &[
    route!(GET "/atom.xml" => blog_feed),
    route!(GET "/tag/:tag/atom.xml" => tag_feed),
    route!(GET "/profile/:username/atom.xml" => author_feed),
];

/// Entries per feed.
pub const ENTRIES: i64 = 20;

const CONTENT_TYPE: &str = "application/atom+xml; charset=utf-8";

/// What a path segment must escape (RFC 3986 leaves letters, digits and
/// `-._~` as they are), so a feed's own link is the one readers fetch.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The feed's path below the base path, for a page's `<link rel="alternate">`.
pub fn tag_path(tag: &str) -> String {
    format!("/tag/{}/atom.xml", utf8_percent_encode(tag, SEGMENT))
}

pub fn author_path(username: &str) -> String {
    format!(
        "/profile/{}/atom.xml",
        utf8_percent_encode(username, SEGMENT)
    )
}

pub const BLOG_PATH: &str = "/atom.xml";

/// What a feed is of: its title, its own path and its page's path.
struct Channel {
    title: String,
    path: String,
    page: String,
    author: String,
}

async fn blog_feed(call: Call) -> Reply {
    let channel = Channel {
        title: "Conduit: the newest articles".to_owned(),
        path: BLOG_PATH.to_owned(),
        page: "/".to_owned(),
        author: "Conduit".to_owned(),
    };
    let entries = call
        .read(|store| store.latest_articles(&ArticleFilter::default(), ENTRIES))
        .await?;
    Ok(answer(&call, &channel, &entries))
}

async fn tag_feed(call: Call) -> Reply {
    let tag = call.param("tag");
    let channel = Channel {
        title: format!("Conduit: articles tagged {tag}"),
        path: tag_path(&tag),
        page: format!("/?tag={}", utf8_percent_encode(&tag, NON_ALPHANUMERIC)),
        author: "Conduit".to_owned(),
    };
    let filter = ArticleFilter {
        tag: Some(tag),
        ..ArticleFilter::default()
    };
    let entries = call
        .read(move |store| store.latest_articles(&filter, ENTRIES))
        .await?;
    Ok(answer(&call, &channel, &entries))
}

/// 404 for a user who does not exist (an author without articles has an
/// empty feed).
async fn author_feed(call: Call) -> Reply {
    let username = call.param("username");
    let (username, entries) = call
        .read(move |store| {
            let profile = store.profile(None, &username)?;
            let filter = ArticleFilter {
                author: Some(profile.username.clone()),
                ..ArticleFilter::default()
            };
            Ok((profile.username, store.latest_articles(&filter, ENTRIES)?))
        })
        .await?;
    let channel = Channel {
        title: format!("Conduit: articles by {username}"),
        path: author_path(&username),
        page: format!("/profile/{username}"),
        author: username,
    };
    Ok(answer(&call, &channel, &entries))
}

/// The feed, or 304 for a reader who holds it: the tag is a hash of what
/// the feed is made from, so a poll that finds nothing new renders nothing.
fn answer(call: &Call, channel: &Channel, entries: &[FeedEntry]) -> warp::reply::Response {
    let newest = entries.iter().map(|e| e.article.updated_at).max();
    let site = &call.ctx.site;
    conditional::document_tagged(
        call.headers(),
        CONTENT_TYPE,
        tag(site, channel, entries),
        newest,
        || render(site, channel, entries, newest),
    )
}

/// Everything [`render`] reads, hashed, and the release that renders it.
fn tag(site: &SiteConfig, channel: &Channel, entries: &[FeedEntry]) -> String {
    let release = concat!(env!("CARGO_PKG_VERSION"), " ", env!("CONDUIT_GIT_REVISION"));
    let mut tag = conditional::TagOf::default();
    for text in [
        release,
        &site.origin,
        &site.base_path,
        &channel.title,
        &channel.path,
        &channel.page,
        &channel.author,
    ] {
        tag.part(text.as_bytes());
    }
    for FeedEntry { id, article } in entries {
        for number in [
            *id,
            article.created_at.0,
            article.updated_at.0,
            article.tag_list.len() as i64,
        ] {
            tag.part(&number.to_le_bytes());
        }
        for text in [
            &article.slug,
            &article.title,
            &article.description,
            article.body.as_deref().unwrap_or_default(),
            &article.author.username,
        ]
        .into_iter()
        .chain(article.tag_list.iter().map(String::as_str))
        {
            tag.part(text.as_bytes());
        }
    }
    tag.finish()
}

/// The feed document.
fn render(
    site: &SiteConfig,
    channel: &Channel,
    entries: &[FeedEntry],
    newest: Option<Timestamp>,
) -> String {
    let own = escape(&site.absolute(&channel.path));
    let mut xml = String::with_capacity(2048 + entries.len() * 4096);
    let _ = write!(
        xml,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <feed xmlns=\"http://www.w3.org/2005/Atom\" xml:base=\"{base}\">\n\
         <id>{own}</id>\n<title>{title}</title>\n<updated>{updated}</updated>\n\
         <link rel=\"self\" type=\"application/atom+xml\" href=\"{own}\"/>\n\
         <link rel=\"alternate\" type=\"text/html\" href=\"{page}\"/>\n\
         <author><name>{author}</name></author>\n<generator>Conduit</generator>\n",
        base = escape(&site.absolute("/")),
        title = escape(&channel.title),
        updated = newest.unwrap_or(Timestamp(0)).to_rfc3339(),
        page = escape(&site.absolute(&channel.page)),
        author = escape(&channel.author),
    );
    let authority = tag_authority(&site.origin);
    for FeedEntry { id, article } in entries {
        let _ = write!(
            xml,
            "<entry>\n<id>tag:{authority},2026:article:{id}:{created}</id>\n<title>{title}</title>\n\
             <link rel=\"alternate\" type=\"text/html\" href=\"{href}\"/>\n\
             <published>{published}</published>\n<updated>{updated}</updated>\n\
             <author><name>{name}</name><uri>{profile}</uri></author>\n",
            // The id with the creation time: SQLite may give a deleted
            // article's id to the next one, and an entry id is forever.
            created = article.created_at.0,
            title = escape(&article.title),
            href = escape(&site.absolute(&format!("/article/{}", article.slug))),
            published = article.created_at.to_rfc3339(),
            updated = article.updated_at.to_rfc3339(),
            name = escape(&article.author.username),
            profile = escape(&site.absolute(&format!("/profile/{}", article.author.username))),
        );
        for tag in &article.tag_list {
            let _ = writeln!(xml, "<category term=\"{}\"/>", escape(tag));
        }
        if !article.description.is_empty() {
            let _ = writeln!(xml, "<summary>{}</summary>", escape(&article.description));
        }
        let body = article.body.as_deref().unwrap_or_default();
        let _ = write!(
            xml,
            "<content type=\"html\">{}</content>\n</entry>\n",
            escape(&to_safe_html(body))
        );
    }
    xml.push_str("</feed>\n");
    xml
}

/// The authority of entries' `tag:` ids (RFC 4151): the origin's host name,
/// so ids stay the same when slugs change with titles.
fn tag_authority(origin: &str) -> String {
    let host = origin.split("://").nth(1).unwrap_or_default();
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    if !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        host.to_ascii_lowercase()
    } else {
        "localhost".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_ids_name_the_host_without_port() {
        assert_eq!(
            tag_authority("https://Blog.Example.com"),
            "blog.example.com"
        );
        assert_eq!(tag_authority("http://127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(tag_authority("http://[::1]:8080"), "localhost");
    }
}
