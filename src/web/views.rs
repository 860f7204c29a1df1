//! What templates show, prepared from the store's read models: every link
//! already carries the base path, every image is safe for `<img src>`, every
//! date is written out.

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use super::render::Frame;
use crate::domain::search::SearchQuery;
use crate::domain::views::{ArticleView, Profile};

/// Articles per page in every list, as in the RealWorld app.
pub const PAGE_SIZE: i64 = 10;

/// Higher page numbers are treated as this one (an empty page), so the
/// offset cannot overflow.
const LAST_PAGE: i64 = 1_000_000;

pub struct AuthorVm {
    pub name: String,
    pub href: String,
    pub image: String,
}

pub struct TagVm {
    pub name: String,
    pub href: String,
}

pub struct PreviewVm {
    pub href: String,
    pub title: String,
    pub description: String,
    /// The title and description with a search's matched words marked.
    pub marks: Option<Marks>,
    pub tags: Vec<TagVm>,
    pub date: String,
    pub favorited: bool,
    pub count: i64,
    pub author: AuthorVm,
}

/// Text cut into runs, the matched ones to be shown marked.
pub struct Marks {
    pub title: Vec<Run>,
    pub description: Vec<Run>,
}

pub struct Run {
    pub text: String,
    pub marked: bool,
}

/// `text`'s runs as `query` matches them.
pub fn runs(query: &SearchQuery, text: &str) -> Vec<Run> {
    query
        .highlight(text)
        .into_iter()
        .map(|(marked, text)| Run {
            text: text.to_owned(),
            marked,
        })
        .collect()
}

pub struct PageLink {
    pub number: i64,
    pub href: String,
    pub current: bool,
}

pub fn author(frame: &Frame, profile: &Profile) -> AuthorVm {
    AuthorVm {
        name: profile.username.clone(),
        href: frame.link(&format!("/profile/{}", profile.username)),
        image: frame.avatar(&profile.image),
    }
}

pub fn tag(frame: &Frame, name: &str) -> TagVm {
    TagVm {
        name: name.to_owned(),
        href: frame.link(&format!(
            "/?tag={}",
            utf8_percent_encode(name, NON_ALPHANUMERIC)
        )),
    }
}

pub fn preview(frame: &Frame, article: &ArticleView) -> PreviewVm {
    PreviewVm {
        href: frame.link(&format!("/article/{}", article.slug)),
        title: article.title.clone(),
        description: article.description.clone(),
        marks: None,
        tags: article.tag_list.iter().map(|t| tag(frame, t)).collect(),
        date: article.created_at.to_long_date(),
        favorited: article.favorited,
        count: article.favorites_count,
        author: author(frame, &article.author),
    }
}

pub fn previews(frame: &Frame, articles: &[ArticleView]) -> Vec<PreviewVm> {
    articles.iter().map(|a| preview(frame, a)).collect()
}

/// The 1-based page asked for by `?page=`; anything unreadable is page 1.
pub fn page_number(raw: Option<&str>) -> i64 {
    raw.and_then(|p| p.trim().parse::<i64>().ok())
        .filter(|&n| n >= 1)
        .map_or(1, |n| n.min(LAST_PAGE))
}

/// The store's page for a 1-based page number.
pub fn store_page(number: i64) -> crate::domain::article::Page {
    crate::domain::article::Page {
        limit: PAGE_SIZE,
        offset: (number - 1) * PAGE_SIZE,
    }
}

/// Links to every page of `total` articles (none when one page holds
/// them); `href` builds a page's link from its number.
pub fn pager(total: i64, current: i64, href: impl Fn(i64) -> String) -> Vec<PageLink> {
    let pages = (total + PAGE_SIZE - 1) / PAGE_SIZE;
    if pages <= 1 {
        return Vec::new();
    }
    (1..=pages)
        .map(|number| PageLink {
            number,
            href: href(number),
            current: number == current,
        })
        .collect()
}

/// A path with `page=N` set in its query (`base_query` is the rest of the
/// query, already encoded, possibly empty).
pub fn with_page(path: &str, base_query: &str, number: i64) -> String {
    match (base_query.is_empty(), number) {
        (true, 1) => path.to_owned(),
        (true, n) => format!("{path}?page={n}"),
        (false, 1) => format!("{path}?{base_query}"),
        (false, n) => format!("{path}?{base_query}&page={n}"),
    }
}

/// The request's own path and query, for a form's `next` field.
pub fn here(call: &crate::http::route::Call) -> String {
    match call.raw_query() {
        "" => call.path().to_owned(),
        query => format!("{}?{query}", call.path()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_numbers_are_clamped() {
        assert_eq!(page_number(None), 1);
        assert_eq!(page_number(Some("3")), 3);
        assert_eq!(page_number(Some("0")), 1);
        assert_eq!(page_number(Some("-2")), 1);
        assert_eq!(page_number(Some("x")), 1);
        assert_eq!(page_number(Some("99999999999999999999")), 1);
        assert_eq!(page_number(Some("9223372036854775807")), LAST_PAGE);
    }

    #[test]
    fn the_pager_links_every_page_only_when_there_are_several() {
        assert!(pager(10, 1, |n| n.to_string()).is_empty());
        let links = pager(21, 2, |n| with_page("/", "feed=global", n));
        let hrefs: Vec<_> = links.iter().map(|l| l.href.as_str()).collect();
        assert_eq!(
            hrefs,
            [
                "/?feed=global",
                "/?feed=global&page=2",
                "/?feed=global&page=3"
            ]
        );
        assert!(links[1].current && !links[0].current);
    }
}
