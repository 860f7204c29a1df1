//! Articles: field rules, tags, slugs, and the filters and paging of lists.

use rand::Rng;

use super::{collect, missing, trimmed_len, Problems};

pub const TITLE_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 1024;
pub const BODY_MAX_BYTES: usize = 1024 * 1024;
pub const TAGS_MAX: usize = 16;
pub const TAG_MAX: usize = 64;
/// Longest slug derived from a title, before any suffix.
const SLUG_BASE_MAX: usize = 96;
/// Paths the router owns under `/articles/`, so no article may take them.
const RESERVED_SLUGS: &[&str] = &["feed"];

pub fn parse_title(raw: &str) -> Result<String, String> {
    let len = trimmed_len(raw);
    if len == 0 {
        return Err("title can't be blank".into());
    }
    if len > TITLE_MAX {
        return Err(format!(
            "title is too long (maximum is {TITLE_MAX} characters)"
        ));
    }
    Ok(raw.trim().to_owned())
}

pub fn parse_description(raw: &str) -> Result<String, String> {
    if trimmed_len(raw) > DESCRIPTION_MAX {
        return Err(format!(
            "description is too long (maximum is {DESCRIPTION_MAX} characters)"
        ));
    }
    Ok(raw.trim().to_owned())
}

/// Markdown, kept exactly as given: up to 1 MiB of UTF-8, not blank.
pub fn parse_body(raw: &str) -> Result<String, String> {
    if raw.trim().is_empty() {
        return Err("body can't be blank".into());
    }
    if raw.len() > BODY_MAX_BYTES {
        return Err("body is too long (maximum is 1 MiB)".into());
    }
    Ok(raw.to_owned())
}

/// Trims each tag, drops repeats (case-sensitively), allows at most 16 of
/// 1 to 64 characters, and sorts them by Unicode code point: every response
/// lists tags in that order, whatever order the author gave.
pub fn parse_tags(raw: &[String]) -> Result<Vec<String>, String> {
    let mut tags: Vec<String> = Vec::with_capacity(raw.len().min(TAGS_MAX));
    for tag in raw {
        let tag = tag.trim();
        if tag.is_empty() {
            return Err("tagList entries can't be blank".into());
        }
        if tag.chars().count() > TAG_MAX {
            return Err(format!(
                "tagList entries are too long (maximum is {TAG_MAX} characters)"
            ));
        }
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_owned());
        }
    }
    if tags.len() > TAGS_MAX {
        return Err(format!("tagList has too many tags (maximum is {TAGS_MAX})"));
    }
    // Byte order of UTF-8 is code point order.
    tags.sort_unstable();
    Ok(tags)
}

/// A new article that passed every rule.
#[derive(Clone, Debug)]
pub struct NewArticle {
    pub title: String,
    pub description: String,
    pub body: String,
    pub tags: Vec<String>,
}

impl NewArticle {
    pub fn parse(
        title: Option<&str>,
        description: Option<&str>,
        body: Option<&str>,
        tags: Option<&[String]>,
    ) -> Result<Self, Problems> {
        let mut problems = Problems::new();
        let title = collect(
            &mut problems,
            title.ok_or_else(|| missing("title")).and_then(parse_title),
        );
        let description = collect(
            &mut problems,
            description
                .ok_or_else(|| missing("description"))
                .and_then(parse_description),
        );
        let body = collect(
            &mut problems,
            body.ok_or_else(|| missing("body")).and_then(parse_body),
        );
        let tags = collect(&mut problems, parse_tags(tags.unwrap_or_default()));
        match (title, description, body, tags) {
            (Some(title), Some(description), Some(body), Some(tags)) => Ok(NewArticle {
                title,
                description,
                body,
                tags,
            }),
            _ => Err(problems),
        }
    }
}

/// The fields of `PUT /articles/{slug}`; `None` leaves a field unchanged.
/// `tags` is accepted as an extension of the spec (clients send it).
#[derive(Clone, Debug, Default)]
pub struct ArticleChanges {
    pub title: Option<String>,
    pub description: Option<String>,
    pub body: Option<String>,
    pub tags: Option<Vec<String>>,
}

impl ArticleChanges {
    pub fn parse(
        title: Option<&str>,
        description: Option<&str>,
        body: Option<&str>,
        tags: Option<&[String]>,
    ) -> Result<Self, Problems> {
        if title.is_none() && description.is_none() && body.is_none() && tags.is_none() {
            return Err(vec![
                "article must contain at least one of title, description, body, tagList".into(),
            ]);
        }
        let mut problems = Problems::new();
        let changes = ArticleChanges {
            title: title.and_then(|v| collect(&mut problems, parse_title(v))),
            description: description.and_then(|v| collect(&mut problems, parse_description(v))),
            body: body.and_then(|v| collect(&mut problems, parse_body(v))),
            tags: tags.and_then(|v| collect(&mut problems, parse_tags(v))),
        };
        if problems.is_empty() {
            Ok(changes)
        } else {
            Err(problems)
        }
    }
}

/// Lowercase ASCII words joined by hyphens; non-ASCII is transliterated
/// (`Ünïcödé` becomes `unicode`) or dropped. Never empty, never reserved:
/// such titles get a random suffix instead.
pub fn slugify(title: &str) -> String {
    let ascii = deunicode::deunicode(title);
    let mut slug = String::with_capacity(ascii.len().min(SLUG_BASE_MAX));
    for word in ascii
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if slug.len() + word.len() + 1 > SLUG_BASE_MAX && !slug.is_empty() {
            break;
        }
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.extend(
            word.chars()
                .take(SLUG_BASE_MAX)
                .map(|c| c.to_ascii_lowercase()),
        );
    }
    if slug.is_empty() {
        slug.push_str("article");
        return with_suffix(&slug);
    }
    if RESERVED_SLUGS.contains(&slug.as_str()) {
        return with_suffix(&slug);
    }
    slug
}

/// `base` plus a short random suffix, for a slug that is already taken.
pub fn with_suffix(base: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    let suffix: String = (0..6)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{base}-{suffix}")
}

/// Which articles a list shows; unset filters match everything, and set
/// ones combine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArticleFilter {
    pub tag: Option<String>,
    /// Username, matched case-insensitively.
    pub author: Option<String>,
    /// Username whose favorites to list, matched case-insensitively.
    pub favorited: Option<String>,
}

/// A window on a list: `limit` is 1 to 100, `offset` 0 or more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

pub const PAGE_DEFAULT_LIMIT: i64 = 20;
pub const PAGE_MAX_LIMIT: i64 = 100;

impl Default for Page {
    fn default() -> Self {
        Page {
            limit: PAGE_DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

impl Page {
    /// Parses the raw `limit` and `offset` query values. A `limit` above 100
    /// is capped; zero, negative, non-numeric or overflowing values fail.
    pub fn parse(limit: Option<&str>, offset: Option<&str>) -> Result<Page, Problems> {
        let mut problems = Problems::new();
        let mut page = Page::default();
        if let Some(raw) = limit {
            match raw.trim().parse::<i64>() {
                Ok(n) if n >= 1 => page.limit = n.min(PAGE_MAX_LIMIT),
                Ok(_) => problems.push("limit must be at least 1".into()),
                Err(_) => problems.push("limit must be a whole number".into()),
            }
        }
        if let Some(raw) = offset {
            match raw.trim().parse::<i64>() {
                Ok(n) if n >= 0 => page.offset = n,
                Ok(_) => problems.push("offset must be 0 or more".into()),
                Err(_) => problems.push("offset must be a whole number".into()),
            }
        }
        if problems.is_empty() {
            Ok(page)
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_ascii_words_joined_by_hyphens() {
        let cases = [
            ("How to train your dragon", "how-to-train-your-dragon"),
            ("  Hello,   World!  ", "hello-world"),
            ("Ünïcödé Çafé", "unicode-cafe"),
            ("C++ & Rust: 2026", "c-rust-2026"),
            ("Already-hyphenated--title", "already-hyphenated-title"),
        ];
        for (title, slug) in cases {
            assert_eq!(slugify(title), slug, "title {title:?}");
        }
    }

    #[test]
    fn slugs_are_never_empty_or_reserved() {
        for title in ["!!!", "   ", "¿¡…?"] {
            let slug = slugify(title);
            assert!(
                slug.starts_with("article-") && slug.len() == 14,
                "{title:?} gave {slug}"
            );
        }
        let feed = slugify("Feed");
        assert!(feed.starts_with("feed-") && feed.len() == 11, "{feed}");
    }

    #[test]
    fn long_titles_give_bounded_slugs() {
        let slug = slugify(&"word ".repeat(100));
        assert!(slug.len() <= 96 && !slug.ends_with('-'), "{slug}");
    }

    #[test]
    fn suffixes_make_distinct_slugs() {
        assert_ne!(with_suffix("a"), with_suffix("a"));
        assert!(with_suffix("a").starts_with("a-"));
    }

    #[test]
    fn tags_are_trimmed_deduplicated_and_sorted_by_code_point() {
        let raw: Vec<String> = [
            "training", " web ", "dragons", "training", "Web", "éclair", "z",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            parse_tags(&raw).unwrap(),
            vec!["Web", "dragons", "training", "web", "z", "éclair"],
            "upper case before lower case, then non-ASCII"
        );
        let seventeen: Vec<String> = (0..17).map(|i| format!("t{i}")).collect();
        assert!(parse_tags(&seventeen).is_err(), "17 distinct tags");
        let sixteen_with_repeat: Vec<String> = (0..17).map(|i| format!("t{}", i % 16)).collect();
        assert!(
            parse_tags(&sixteen_with_repeat).is_ok(),
            "repeats dropped first"
        );
        assert!(parse_tags(&["  ".to_string()]).is_err(), "blank tag");
        assert!(parse_tags(&["x".repeat(65)]).is_err(), "65 characters");
        assert!(
            parse_tags(&["é".repeat(64)]).is_ok(),
            "64 characters of 2 bytes"
        );
    }

    #[test]
    fn article_fields_have_their_limits() {
        type Case<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>, &'a str);
        let cases: &[Case] = &[
            (Some(" "), Some(""), Some("b"), "blank title"),
            (Some(&"t".repeat(257)), Some(""), Some("b"), "title of 257"),
            (
                Some("t"),
                Some(&"d".repeat(1025)),
                Some("b"),
                "description of 1025",
            ),
            (Some("t"), Some(""), Some(" \n "), "blank body"),
            (None, Some(""), Some("b"), "missing title"),
            (Some("t"), None, Some("b"), "missing description"),
            (Some("t"), Some(""), None, "missing body"),
        ];
        for (title, description, body, why) in cases {
            assert!(
                NewArticle::parse(*title, *description, *body, None).is_err(),
                "{why} should be rejected"
            );
        }
        assert!(NewArticle::parse(Some(&"t".repeat(256)), Some(""), Some("b"), None).is_ok());
        let mib = "x".repeat(BODY_MAX_BYTES);
        assert!(parse_body(&mib).is_ok());
        assert!(parse_body(&(mib + "x")).is_err());
    }

    #[test]
    fn pages_default_cap_and_reject_bad_numbers() {
        assert_eq!(
            Page::parse(None, None).unwrap(),
            Page {
                limit: 20,
                offset: 0
            }
        );
        assert_eq!(
            Page::parse(Some("500"), Some("3")).unwrap(),
            Page {
                limit: 100,
                offset: 3
            }
        );
        for (limit, offset, why) in [
            (Some("0"), None, "zero limit"),
            (Some("-1"), None, "negative limit"),
            (Some("ten"), None, "non-numeric limit"),
            (Some("99999999999999999999"), None, "overflowing limit"),
            (None, Some("-1"), "negative offset"),
            (None, Some("1.5"), "fractional offset"),
        ] {
            assert!(Page::parse(limit, offset).is_err(), "{why}");
        }
    }
}
