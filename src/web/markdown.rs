//! Article bodies: markdown to HTML, then cleaned. pulldown-cmark passes raw
//! HTML through (CommonMark allows it), so its output is never trusted:
//! ammonia keeps a safe subset of tags and attributes, drops `script`,
//! `style` and every event handler, and allows only plain link schemes.

use std::sync::LazyLock;

use pulldown_cmark::{html, Options, Parser};

static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder.url_schemes(["http", "https", "mailto"].into());
    builder
});

/// Safe HTML for a markdown text.
pub fn to_safe_html(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let mut unsafe_html = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut unsafe_html, Parser::new_ext(markdown, options));
    CLEANER.clean(&unsafe_html).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_html() {
        let html = to_safe_html("# Title\n\nSome *emphasis* and [a link](https://example.com).");
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(html.contains("<em>emphasis</em>"), "{html}");
        assert!(html.contains("href=\"https://example.com\""), "{html}");
    }

    #[test]
    fn scripts_handlers_and_script_urls_do_not_survive() {
        let hostile = concat!(
            "<script>alert(1)</script>\n\n",
            "<img src=\"x\" onerror=\"alert(2)\">\n\n",
            "[click](javascript:alert(3))\n\n",
            "<a href=\"javascript:alert(4)\">raw</a>\n\n",
            "<iframe src=\"https://evil.example\"></iframe>\n\n",
            "<svg onload=\"alert(5)\"></svg><style>body{}</style>",
        );
        let html = to_safe_html(hostile);
        for needle in [
            "<script",
            "onerror",
            "javascript:",
            "<iframe",
            "onload",
            "<style",
            "<svg",
        ] {
            assert!(!html.contains(needle), "{needle} survived in {html}");
        }
        assert!(html.contains("<img src=\"x\">"), "{html}");
    }
}
