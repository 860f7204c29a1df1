//! What link previews and crawlers read: Open Graph and Twitter card tags,
//! canonical links, `/robots.txt` and the sitemap.

use quick_xml::events::Event;

use super::{fetch, write};
use crate::helpers::*;

const ORIGIN: &str = "https://blog.example.com";

async fn app_with_origin(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| c.public_origin = Some(ORIGIN.into())).await
}

/// The text of every `<loc>` of a sitemap document, which must be
/// well-formed XML in the sitemaps.org namespace.
fn locations(xml: &str, root: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut locs, mut in_loc, mut saw_root) = (Vec::new(), false, false);
    loop {
        match reader.read_event() {
            Ok(Event::Start(tag)) => {
                let name = String::from_utf8_lossy(tag.name().as_ref()).into_owned();
                if name == root {
                    let xmlns = tag
                        .try_get_attribute("xmlns")
                        .ok()
                        .flatten()
                        .map(|a| String::from_utf8_lossy(&a.value).into_owned());
                    assert_eq!(
                        xmlns.as_deref(),
                        Some("http://www.sitemaps.org/schemas/sitemap/0.9")
                    );
                    saw_root = true;
                }
                in_loc = name == "loc";
            }
            Ok(Event::Text(text)) if in_loc => {
                locs.push(text.decode().expect("text").into_owned());
            }
            Ok(Event::End(_)) => in_loc = false,
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("not well-formed XML: {e}\n{xml}"),
        }
    }
    assert!(saw_root, "no <{root}> in\n{xml}");
    locs
}

async fn article_pages_carry_cards_and_a_canonical_link(backend: Backend) {
    let app = app_with_origin(backend).await;
    let alice = app.register("alice").await;
    let article = write(&app, &alice, "Quotes \"and\" <tags>", "A & B", "Body.", &[]).await;
    let slug = article["slug"].as_str().expect("slug");
    let (status, _, html) = fetch(
        &app,
        &format!("/article/{slug}"),
        &[("Host", "evil.example")],
    )
    .await;
    assert_eq!(status, 200);
    let url = format!("{ORIGIN}/article/{slug}");
    for tag in [
        format!("<link rel=\"canonical\" href=\"{url}\">"),
        "<meta property=\"og:type\" content=\"article\">".to_owned(),
        "<meta property=\"og:title\" content=\"Quotes &#34;and&#34; &#60;tags&#62;\">".to_owned(),
        "<meta property=\"og:description\" content=\"A &#38; B\">".to_owned(),
        format!("<meta property=\"og:url\" content=\"{url}\">"),
        "<meta name=\"author\" content=\"alice\">".to_owned(),
        "<meta name=\"twitter:card\" content=\"summary\">".to_owned(),
        "<meta name=\"twitter:title\" content=\"Quotes &#34;and&#34; &#60;tags&#62;\">".to_owned(),
    ] {
        assert!(
            html.contains(&tag),
            "missing {tag} in the article page's head"
        );
    }
    assert!(!html.contains("evil.example"));
    let (_, _, profile) = fetch(&app, "/profile/alice", &[]).await;
    assert!(profile.contains(&format!(
        "<link rel=\"canonical\" href=\"{ORIGIN}/profile/alice\">"
    )));
    assert!(profile.contains("<meta property=\"og:type\" content=\"profile\">"));
}

async fn robots_and_the_sitemap_list_every_article_and_profile(backend: Backend) {
    let app = app_with_origin(backend).await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let a = write(&app, &alice, "One", "", "x", &[]).await;
    let b = write(&app, &bob, "Two", "", "x", &[]).await;

    let (status, headers, robots) = fetch(&app, "/robots.txt", &[]).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap_or_default()
        .starts_with("text/plain"));
    assert!(
        robots.contains(&format!("Sitemap: {ORIGIN}/sitemap.xml")),
        "{robots}"
    );
    assert!(robots.contains("Disallow: /api/"), "{robots}");

    let (status, _, index) = fetch(&app, "/sitemap.xml", &[]).await;
    assert_eq!(status, 200);
    let pages = locations(&index, "sitemapindex");
    assert_eq!(
        pages,
        [
            format!("{ORIGIN}/sitemap.xml?articles=0"),
            format!("{ORIGIN}/sitemap.xml?profiles=0")
        ]
    );
    let (_, headers, articles) = fetch(&app, "/sitemap.xml?articles=0", &[]).await;
    assert!(headers.contains_key("last-modified"));
    assert_eq!(
        locations(&articles, "urlset"),
        [
            format!("{ORIGIN}/"),
            format!(
                "{ORIGIN}/article/{}",
                a["slug"].as_str().unwrap_or_default()
            ),
            format!(
                "{ORIGIN}/article/{}",
                b["slug"].as_str().unwrap_or_default()
            ),
        ]
    );
    assert!(articles.contains(&format!(
        "<lastmod>{}</lastmod>",
        b["updatedAt"].as_str().unwrap_or_default()
    )));
    let (_, _, profiles) = fetch(&app, "/sitemap.xml?profiles=0", &[]).await;
    assert_eq!(
        locations(&profiles, "urlset"),
        [
            format!("{ORIGIN}/profile/alice"),
            format!("{ORIGIN}/profile/bob")
        ]
    );
    assert!(
        !profiles.contains("<lastmod>"),
        "an account's changes are not public"
    );
    for missing in [
        "/sitemap.xml?articles=x",
        "/sitemap.xml?articles=-1",
        "/sitemap.xml?articles=99999999999999999999",
        "/sitemap.xml?profiles=1",
        "/sitemap.xml?articles=1&profiles=0",
    ] {
        let (status, _, _) = fetch(&app, missing, &[]).await;
        assert_eq!(status, 404, "{missing}");
    }
    let (_, _, robots_again) = fetch(&app, "/robots.txt", &[]).await;
    assert!(robots_again.contains("Disallow: /search"), "{robots_again}");
}

backend_tests!(
    article_pages_carry_cards_and_a_canonical_link,
    robots_and_the_sitemap_list_every_article_and_profile,
);

/// A large blog's sitemap is paged by blocks of ids: articles past the
/// first block are on the second page, and each page lists only its own.
#[tokio::test]
#[ignore = "needs PostgreSQL: set CONDUIT_TEST_POSTGRES_URL and pass --run-ignored all"]
async fn a_large_sitemap_is_paged_by_blocks_of_ids() {
    let app = app_with_origin(Backend::Postgres).await;
    let alice = app.register("alice").await;
    let early = write(&app, &alice, "Early", "", "x", &[]).await;
    // As if 6,000 articles had been written since (ids are never reused).
    run_sql(
        &app.db.url,
        "ALTER SEQUENCE articles_id_seq RESTART WITH 6001",
    );
    let late = write(&app, &alice, "Late", "", "x", &[]).await;
    let (_, _, index) = fetch(&app, "/sitemap.xml", &[]).await;
    assert_eq!(
        locations(&index, "sitemapindex"),
        [
            format!("{ORIGIN}/sitemap.xml?articles=0"),
            format!("{ORIGIN}/sitemap.xml?articles=1"),
            format!("{ORIGIN}/sitemap.xml?profiles=0"),
        ]
    );
    let (_, _, first) = fetch(&app, "/sitemap.xml?articles=0", &[]).await;
    let (_, _, second) = fetch(&app, "/sitemap.xml?articles=1", &[]).await;
    let slug = |a: &serde_json::Value| a["slug"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        locations(&first, "urlset"),
        [
            format!("{ORIGIN}/"),
            format!("{ORIGIN}/article/{}", slug(&early))
        ]
    );
    assert_eq!(
        locations(&second, "urlset"),
        [format!("{ORIGIN}/article/{}", slug(&late))]
    );
}
