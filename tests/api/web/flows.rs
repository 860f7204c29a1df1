//! The web app in a real browser: each flow clicks through pages as a
//! person would and checks what each page shows.

use anyhow::{ensure, Result};
use serde_json::json;

use super::browser::{in_browser, Browser};
use crate::helpers::TestApp;

browser_tests!(
    a_writer_and_a_reader_use_the_whole_blog,
    an_article_too_large_to_send_gets_a_page_that_says_so,
    long_words_wrap_instead_of_widening_the_page,
    a_guest_sent_to_sign_in_comes_back_to_the_page,
    lists_page_through_more_than_ten_articles,
    stored_scripts_never_run,
    a_cross_site_form_post_is_refused_and_changes_nothing,
    a_reader_searches_from_the_navigation_bar,
);

/// Signs up through the form; the navigation bar then names the user.
async fn sign_up(b: &Browser, name: &str) -> Result<()> {
    b.goto("/register").await?;
    b.fill("input[name=username]", name).await?;
    b.fill("input[name=email]", &format!("{name}@example.com"))
        .await?;
    b.fill("input[name=password]", &format!("password-of-{name}"))
        .await?;
    b.click("form button[type=submit]").await?;
    b.expect_text(".nav .me", name).await
}

async fn sign_in(b: &Browser, name: &str) -> Result<()> {
    b.goto("/login").await?;
    b.fill("input[name=email]", &format!("{name}@example.com"))
        .await?;
    b.fill("input[name=password]", &format!("password-of-{name}"))
        .await?;
    b.click("form button[type=submit]").await?;
    b.expect_text(".nav .me", name).await
}

async fn sign_out(b: &Browser) -> Result<()> {
    b.goto("/settings").await?;
    b.click("form[action$='/logout'] button").await?;
    b.expect_text(".nav", "Sign in").await?;
    ensure!(
        b.find_all(".nav .me").await?.is_empty(),
        "still signed in after logout"
    );
    Ok(())
}

async fn a_writer_and_a_reader_use_the_whole_blog(app: TestApp) {
    in_browser("whole-blog", &app, |b| async move {
        // A guest sees the global feed and the ways in.
        b.goto("/").await?;
        b.expect_text(".tabs a.active", "Global Feed").await?;
        b.expect_text(".nav", "Sign up").await?;
        ensure!(
            b.texts(".tabs a").await?.iter().all(|t| t != "Your Feed"),
            "a guest has no feed"
        );

        // Sign up, out and in again; a wrong password is shown above the
        // form, which keeps the email but not the password.
        sign_up(&b, "alice").await?;
        sign_out(&b).await?;
        b.goto("/login").await?;
        b.fill("input[name=email]", "alice@example.com").await?;
        b.fill("input[name=password]", "not-her-password").await?;
        b.click("form button[type=submit]").await?;
        b.expect_text(".error-messages", "email or password is invalid")
            .await?;
        let email = b.find("input[name=email]").await?.prop("value").await?;
        ensure!(
            email.as_deref() == Some("alice@example.com"),
            "the email was kept: {email:?}"
        );
        let password = b.find("input[name=password]").await?.prop("value").await?;
        ensure!(
            password.as_deref() == Some(""),
            "the password is never sent back"
        );
        sign_in(&b, "alice").await?;

        // Settings: a bio and a picture, shown on her profile.
        b.goto("/settings").await?;
        b.fill("textarea[name=bio]", "I write about dragons.")
            .await?;
        // A picture on a closed local port: it fails at once, with no network.
        b.fill("input[name=image]", "http://127.0.0.1:9/alice.png")
            .await?;
        b.click("form[action$='/settings'] button").await?;
        b.expect_path("/profile/alice").await?;
        b.expect_text(".banner .bio", "I write about dragons.")
            .await?;
        let image = b.find(".banner img.avatar").await?.attr("src").await?;
        ensure!(
            image.as_deref() == Some("http://127.0.0.1:9/alice.png"),
            "avatar: {image:?}"
        );

        // Write an article with tags; it reads rendered from markdown.
        b.click(".nav a[href$='/editor']").await?;
        b.fill("input[name=title]", "How to train your dragon")
            .await?;
        b.fill("input[name=description]", "Ever wonder how?")
            .await?;
        b.fill(
            "textarea[name=body]",
            "## Step one\n\nBe **very** patient.\n\n- feed it\n- name it",
        )
        .await?;
        b.fill("input[name=tagList]", "dragons, training").await?;
        b.click("form button[type=submit]").await?;
        b.expect_path("/article/how-to-train-your-dragon").await?;
        b.expect_text(".banner h1", "How to train your dragon")
            .await?;
        b.expect_text(".article-body h2", "Step one").await?;
        b.expect_text(".article-body strong", "very").await?;
        ensure!(
            b.texts(".article-body li").await? == ["feed it", "name it"],
            "list items"
        );
        ensure!(
            b.texts(".tag-list .tag").await? == ["dragons", "training"],
            "tags"
        );

        // Edit it: the form holds the article; the change shows.
        b.click("a.edit").await?;
        let title = b.find("input[name=title]").await?.prop("value").await?;
        ensure!(
            title.as_deref() == Some("How to train your dragon"),
            "editor title: {title:?}"
        );
        b.fill("input[name=description]", "A patient guide").await?;
        b.fill("textarea[name=body]", "## Step one\n\nBe *patient*.")
            .await?;
        b.click("form button[type=submit]").await?;
        b.expect_path("/article/how-to-train-your-dragon").await?;
        b.expect_text(".article-body em", "patient").await?;

        // Comment, then delete the comment.
        b.fill("textarea[name=body]", "First!").await?;
        b.click(".comment-form button").await?;
        b.expect_text(".comment-body", "First!").await?;
        b.click("button.delete-comment").await?;
        b.expect_gone(".comment").await?;
        b.expect_path("/article/how-to-train-your-dragon").await?;
        sign_out(&b).await?;

        // A reader follows her, favorites the article, finds it in Your Feed.
        sign_up(&b, "bob").await?;
        b.goto("/article/how-to-train-your-dragon").await?;
        b.click("form.follow button").await?;
        b.expect_text("form.follow button", "Unfollow alice")
            .await?;
        b.click("form.favorite button").await?;
        b.expect_text("form.favorite button.on .count", "1").await?;
        b.goto("/").await?;
        b.expect_text(".tabs a.active", "Your Feed").await?;
        b.expect_text(".preview h2", "How to train your dragon")
            .await?;
        b.expect_text(".preview form.favorite button.on .count", "1")
            .await?;

        // The sidebar's tag filters the list.
        b.click(".sidebar a.tag:first-child").await?;
        b.expect_text(".tabs a.active", "#dragons").await?;
        b.expect_text(".preview h2", "How to train your dragon")
            .await?;

        // His favorites, on his profile.
        b.click(".nav .me").await?;
        b.expect_text(".banner h1", "bob").await?;
        b.click(".tabs a[href$='/favorites']").await?;
        b.expect_text(".tabs a.active", "Favorited Articles")
            .await?;
        b.expect_text(".preview h2", "How to train your dragon")
            .await?;
        b.goto("/profile/bob").await?;
        b.expect_text(".empty", "No articles are here").await?;

        // He cannot edit her article; she deletes it.
        b.goto("/editor/how-to-train-your-dragon").await?;
        b.expect_text("h1", "Not allowed").await?;
        sign_out(&b).await?;
        sign_in(&b, "alice").await?;
        b.goto("/article/how-to-train-your-dragon").await?;
        b.click("button.delete").await?;
        b.expect_path("/").await?;
        b.goto("/?feed=global").await?;
        b.expect_text(".empty", "No articles are here").await?;
        b.goto("/article/how-to-train-your-dragon").await?;
        b.expect_text("h1", "Page not found").await?;
        Ok(())
    })
    .await;
}

async fn lists_page_through_more_than_ten_articles(app: TestApp) {
    let author = app.register("prolific").await;
    for n in 1..=12 {
        app.create_article(&author, &format!("Article number {n}"), &["many"])
            .await;
    }
    in_browser("paging", &app, |b| async move {
        b.goto("/").await?;
        ensure!(b.find_all(".preview").await?.len() == 10, "ten to a page");
        b.expect_text(".preview h2", "Article number 12").await?;
        // The picture of the home page in the README (docs/home.png).
        b.save_screenshot("home").await?;
        ensure!(b.texts(".pagination a").await? == ["1", "2"], "two pages");
        b.click(".pagination li:nth-child(2) a").await?;
        b.expect_path("/?feed=global&page=2").await?;
        ensure!(
            b.texts(".preview h2").await? == ["Article number 2", "Article number 1"],
            "the second page holds the oldest two"
        );
        b.expect_text(".pagination li.active a", "2").await?;
        // The profile and the tag pages through the same way.
        b.goto("/profile/prolific?page=2").await?;
        ensure!(b.find_all(".preview").await?.len() == 2, "profile page 2");
        b.goto("/?tag=many&page=2").await?;
        ensure!(b.find_all(".preview").await?.len() == 2, "tag page 2");
        Ok(())
    })
    .await;
}

/// Script in an article, a bio and a comment: the page shows the text,
/// and nothing runs. Each payload would set `window.pwned` or open a dialog.
async fn stored_scripts_never_run(app: TestApp) {
    let mallory = app.register("mallory").await;
    let body = concat!(
        "Hello <script>window.pwned = 'script'</script>\n\n",
        "<img src=\"/nope.png\" onerror=\"window.pwned = 'onerror'\">\n\n",
        "[a link](javascript:window.pwned='link')\n\n",
        "<a id=\"raw\" href=\"javascript:window.pwned='raw'\">raw link</a>\n\n",
        "<svg><script>window.pwned = 'svg'</script></svg>",
    );
    let resp = app
        .post(
            "/api/articles",
            Some(&mallory.token),
            json!({"article": {"title": "Harmless", "description": "d", "body": body}}),
        )
        .await;
    assert_eq!(resp.status, 201, "{:?}", resp.body);
    let resp = app
        .put(
            "/api/user",
            Some(&mallory.token),
            json!({"user": {"bio": "<script>window.pwned = 'bio'</script><img src=x onerror=\"window.pwned='bio-img'\">"}}),
        )
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);
    let resp = app
        .post(
            "/api/articles/harmless/comments",
            Some(&mallory.token),
            json!({"comment": {"body": "<img src=x onerror=\"window.pwned='comment'\">nice"}}),
        )
        .await;
    assert_eq!(resp.status, 200, "{:?}", resp.body);

    in_browser("stored-xss", &app, |b| async move {
        sign_up(&b, "victim").await?;
        for page in ["/article/harmless", "/profile/mallory", "/"] {
            b.goto(page).await?;
            b.find("footer").await?;
            // Give an image's error handler time to fire, were there one.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let pwned = b
                .client
                .execute(
                    "return window.pwned === undefined ? null : String(window.pwned)",
                    vec![],
                )
                .await?;
            ensure!(pwned.is_null(), "a stored script ran on {page}: {pwned}");
        }
        // The comment and the bio show as text.
        b.goto("/article/harmless").await?;
        b.expect_text(".comment-body", "<img src=x onerror=")
            .await?;
        let links = b.find_all(".article-body a").await?;
        for link in links {
            let href = link.attr("href").await?.unwrap_or_default();
            ensure!(
                !href.to_lowercase().contains("javascript"),
                "a script link survived: {href}"
            );
            link.click().await?;
            b.find("footer").await?;
        }
        let pwned = b
            .client
            .execute(
                "return window.pwned === undefined ? null : String(window.pwned)",
                vec![],
            )
            .await?;
        ensure!(
            pwned.is_null(),
            "clicking the article's links ran a script: {pwned}"
        );
        b.goto("/profile/mallory").await?;
        b.expect_text(".banner .bio", "<script>").await?;
        Ok(())
    })
    .await;
}

/// Another site's page posts the settings form at the app: refused, and
/// the bio stays as it was.
async fn a_cross_site_form_post_is_refused_and_changes_nothing(app: TestApp) {
    let target = app.url("/settings");
    in_browser("csrf", &app, |b| async move {
        sign_up(&b, "carol").await?;
        // A page of another origin (a data: URL's origin is opaque).
        let attack = format!(
            "data:text/html,<form method=post action='{target}'>\
             <input name=username value=carol><input name=email value=carol@example.com>\
             <input name=bio value=pwned><button id=go>go</button></form>"
        );
        b.client.goto(&attack).await?;
        b.click("#go").await?;
        b.expect_text("h1", "Not allowed").await?;
        b.goto("/profile/carol").await?;
        b.find(".banner h1").await?;
        let bio = b.texts(".banner .bio").await?;
        ensure!(bio == [""], "the bio changed: {bio:?}");
        Ok(())
    })
    .await;
}

/// The editor submitted with a body over the request limit: a page that
/// says the article is too large (not the browser's own error page), and
/// Back returns to the editor with the text still there.
async fn an_article_too_large_to_send_gets_a_page_that_says_so(app: TestApp) {
    in_browser("too-large", &app, |b| async move {
        sign_up(&b, "olga").await?;
        b.goto("/editor").await?;
        b.fill("input[name=title]", "My long story").await?;
        b.fill("input[name=description]", "Very long").await?;
        // Three MiB typed would take minutes: set the field's value.
        b.client
            .execute(
                "document.querySelector('textarea[name=body]').value = 'x'.repeat(3 * 1024 * 1024)",
                vec![],
            )
            .await?;
        b.click("form button[type=submit]").await?;
        b.expect_text("h1", "This article is too large").await?;
        b.expect_text(".error-page p", "at most 2 MiB").await?;
        b.click("a.back").await?;
        b.expect_path("/editor").await?;
        let title = b.find("input[name=title]").await?.prop("value").await?;
        ensure!(
            title.as_deref() == Some(""),
            "the link opens a fresh editor: {title:?}"
        );

        // Back, as the page suggests: the browser kept what was typed.
        b.goto("/editor").await?;
        b.fill("input[name=title]", "Kept by the browser").await?;
        b.client
            .execute(
                "document.querySelector('textarea[name=body]').value = 'y'.repeat(3 * 1024 * 1024)",
                vec![],
            )
            .await?;
        b.click("form button[type=submit]").await?;
        b.expect_text("h1", "This article is too large").await?;
        b.client.back().await?;
        b.expect_path("/editor").await?;
        let title = b.find("input[name=title]").await?.prop("value").await?;
        ensure!(
            title.as_deref() == Some("Kept by the browser"),
            "Back keeps the title: {title:?}"
        );
        let length = b
            .client
            .execute(
                "return document.querySelector('textarea[name=body]').value.length",
                vec![],
            )
            .await?;
        ensure!(
            length == json!(3 * 1024 * 1024),
            "Back keeps the body: {length}"
        );
        Ok(())
    })
    .await;
}

/// A word of 300 letters in every place a person types text (250 in the
/// title, whose limit is 256): the pages wrap it, on a laptop and on a
/// phone, and never scroll sideways.
async fn long_words_wrap_instead_of_widening_the_page(app: TestApp) {
    let word = "w".repeat(300);
    let writer = app.register("pablo").await;
    let resp = app
        .post(
            "/api/articles",
            Some(&writer.token),
            json!({"article": {
                "title": format!("A {}", &word[..250]),
                "description": format!("The {word}"),
                "body": format!("Text {word} and `{word}`"),
                "tagList": ["t".repeat(64)],
            }}),
        )
        .await;
    assert_eq!(resp.status, 201, "{:?}", resp.body);
    let slug = resp.body["article"]["slug"].as_str().unwrap().to_owned();
    let resp = app
        .put(
            "/api/user",
            Some(&writer.token),
            json!({"user": {"bio": format!("I {word}")}}),
        )
        .await;
    assert_eq!(resp.status, 200);
    let resp = app
        .post(
            &format!("/api/articles/{slug}/comments"),
            Some(&writer.token),
            json!({"comment": {"body": format!("Nice {word}")}}),
        )
        .await;
    assert_eq!(resp.status, 200);
    in_browser("long-words", &app, |b| async move {
        for (width, height) in [(1280, 1000), (390, 844)] {
            b.client.set_window_size(width, height).await?;
            for page in [
                "/".to_owned(),
                format!("/article/{slug}"),
                "/profile/pablo".into(),
            ] {
                b.goto(&page).await?;
                b.find("footer").await?;
                let sizes = b
                    .client
                    .execute(
                        "return [document.documentElement.scrollWidth, window.innerWidth]",
                        vec![],
                    )
                    .await?;
                let (scroll, inner) = (sizes[0].as_u64(), sizes[1].as_u64());
                ensure!(
                    scroll.is_some() && scroll <= inner,
                    "{page} at {width} px is {scroll:?} px wide (window {inner:?})"
                );
            }
        }
        Ok(())
    })
    .await;
}

/// A guest who presses the heart of an article is sent to sign in, and
/// comes back to the article afterwards.
async fn a_guest_sent_to_sign_in_comes_back_to_the_page(app: TestApp) {
    let author = app.register("quinn").await;
    app.create_article(&author, "Worth a heart", &[]).await;
    in_browser("return-after-sign-in", &app, |b| async move {
        sign_up(&b, "rosa").await?;
        sign_out(&b).await?;
        b.goto("/article/worth-a-heart").await?;
        b.click("a.favorite").await?;
        b.expect_path("/login?next=%2Farticle%2Fworth-a-heart")
            .await?;
        b.fill("input[name=email]", "rosa@example.com").await?;
        b.fill("input[name=password]", "password-of-rosa").await?;
        b.click("form button[type=submit]").await?;
        b.expect_path("/article/worth-a-heart").await?;
        b.expect_text(".nav .me", "rosa").await?;
        b.click("form.favorite button").await?;
        b.expect_text("form.favorite button.on .count", "1").await?;
        Ok(())
    })
    .await;
}

/// The search box in the navigation bar, without JavaScript: Enter
/// submits it, the results mark the matched words, the query stays in the
/// box, pages link on, and a query with no words says why on the page.
async fn a_reader_searches_from_the_navigation_bar(app: TestApp) {
    let author = app.register("writer").await;
    for n in 1..=11 {
        app.create_article(&author, &format!("Dragon tale {n}"), &["myth"])
            .await;
    }
    app.create_article(&author, "Gardening", &["plants"]).await;
    in_browser("search", &app, |b| async move {
        b.goto("/").await?;
        b.fill("nav form.search input[name=q]", "dragon tale\n")
            .await?;
        b.expect_path("/search?q=dragon+tale").await?;
        b.expect_text(".results-heading", "11 articles matching")
            .await?;
        ensure!(b.find_all(".preview").await?.len() == 10, "ten to a page");
        ensure!(
            b.texts(".preview h2 mark").await?[..2] == ["Dragon", "tale"],
            "matched words are marked"
        );
        let typed = b
            .find("nav form.search input[name=q]")
            .await?
            .prop("value")
            .await?;
        ensure!(
            typed.as_deref() == Some("dragon tale"),
            "the query stays: {typed:?}"
        );
        b.click(".pagination li:nth-child(2) a").await?;
        b.expect_path("/search?q=dragon%20tale&page=2").await?;
        ensure!(
            b.find_all(".preview").await?.len() == 1,
            "the eleventh on page 2"
        );
        b.fill("form.search-page input[name=q]", "gardening\n")
            .await?;
        b.expect_text(".preview h2", "Gardening").await?;
        // The result leads to the article, whose head carries its card,
        // its canonical link and its author's feed.
        b.click(".preview a.preview-link").await?;
        b.expect_text(".banner h1", "Gardening").await?;
        let canonical = b.find("link[rel=canonical]").await?.attr("href").await?;
        // Absolute, from the configured origin (here the default: the
        // listen address, not the test's own port).
        ensure!(
            canonical
                .as_deref()
                .is_some_and(|url| url.starts_with("http://127.0.0.1:")
                    && url.ends_with("/article/gardening")),
            "canonical: {canonical:?}"
        );
        let card = b
            .find("meta[property='og:title']")
            .await?
            .attr("content")
            .await?;
        ensure!(card.as_deref() == Some("Gardening"), "og:title: {card:?}");
        let feed = b
            .find("link[rel=alternate][type='application/atom+xml']")
            .await?
            .attr("href")
            .await?;
        ensure!(
            feed.as_deref() == Some("/profile/writer/atom.xml"),
            "feed: {feed:?}"
        );
        b.goto("/search").await?;
        b.fill("form.search-page input[name=q]", "\"*\"\n").await?;
        b.expect_text(".error-messages", "at least one word")
            .await?;
        b.fill("form.search-page input[name=q]", "unicorns\n")
            .await?;
        b.expect_text(".empty", "No article contains every word")
            .await?;
        Ok(())
    })
    .await;
}
