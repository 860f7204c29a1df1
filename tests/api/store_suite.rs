//! The storage conformance suite: written once over `&dyn Store`, then
//! instantiated per backend by `store_tests!`. Every test uses at least two
//! users and two articles, so a subquery that forgets its correlation fails.

use std::sync::Arc;

use conduit::domain::article::{ArticleChanges, ArticleFilter, NewArticle, Page};
use conduit::domain::search::{SearchQuery, RANKED_MAX};
use conduit::domain::user::{NewUser, UserChanges};
use conduit::domain::views::{ArticleView, FeedEntry, SitemapEntry, UserRecord};
use conduit::store::{self, DatabaseUrl, Entity, Store, StoreError, UniqueKey};

const OPTIONS: store::PoolOptions = store::PoolOptions {
    pool_size: 2,
    pool_timeout_ms: 5_000,
    startup_timeout_secs: 5,
    statement_timeout: std::time::Duration::from_secs(15),
};

/// A migrated store and whatever keeps its database alive.
pub struct Backend {
    pub store: Arc<dyn Store>,
    _guard: Box<dyn std::any::Any>,
}

pub fn sqlite() -> Backend {
    open(crate::helpers::Backend::Sqlite)
}

pub fn postgres() -> Backend {
    open(crate::helpers::Backend::Postgres)
}

fn open(backend: crate::helpers::Backend) -> Backend {
    let db = crate::helpers::TestDatabase::new(backend);
    let url = DatabaseUrl::parse(&db.url).expect("test database URL");
    let store = store::open(&url, &OPTIONS).expect("open the test database");
    store.migrate().expect("migrate");
    Backend {
        store,
        _guard: Box::new(db),
    }
}

/// One `#[test]` per listed suite function and backend.
macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite_store {
            $(
                #[test]
                fn $name() {
                    let backend = super::sqlite();
                    super::$name(backend.store.as_ref());
                }
            )*
        }
        mod postgres_store {
            $(
                #[test]
                #[ignore = "needs PostgreSQL: set CONDUIT_TEST_POSTGRES_URL and pass --run-ignored all"]
                fn $name() {
                    let backend = super::postgres();
                    super::$name(backend.store.as_ref());
                }
            )*
        }
    };
}

fn user(store: &dyn Store, name: &str) -> UserRecord {
    let new = NewUser::parse(
        Some(name),
        Some(&format!("{name}@example.com")),
        Some("password1"),
    )
    .expect("valid user");
    store
        .create_user(&new, "$scrypt$fake-hash")
        .expect("create user")
}

fn article(store: &dyn Store, author: &UserRecord, title: &str, tags: &[&str]) -> ArticleView {
    let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
    let new = NewArticle::parse(Some(title), Some("description"), Some("body"), Some(&tags))
        .expect("valid article");
    store::create_article(store, author.id, &new).expect("create article")
}

fn all() -> ArticleFilter {
    ArticleFilter::default()
}

fn slugs(page: &[ArticleView]) -> Vec<&str> {
    page.iter().map(|a| a.slug.as_str()).collect()
}

fn users_are_unique_by_username_and_email_ignoring_case(store: &dyn Store) {
    let jake = user(store, "jake");
    user(store, "anna");
    let same_name = NewUser::parse(Some("JAKE"), Some("x@example.com"), Some("password1")).unwrap();
    assert!(matches!(
        store.create_user(&same_name, "h"),
        Err(StoreError::Conflict(UniqueKey::Username))
    ));
    let same_email =
        NewUser::parse(Some("x"), Some("Jake@Example.COM"), Some("password1")).unwrap();
    assert!(matches!(
        store.create_user(&same_email, "h"),
        Err(StoreError::Conflict(UniqueKey::Email))
    ));
    let found = store
        .user_by_email("jake@example.com")
        .unwrap()
        .expect("found by key");
    assert_eq!(found.id, jake.id);
    assert!(store.user_by_email("nobody@example.com").unwrap().is_none());
    assert!(matches!(
        store.user_by_id(conduit::domain::UserId(9999)),
        Err(StoreError::NotFound(Entity::User))
    ));
}

fn a_signed_out_token_is_refused_and_no_other(store: &dyn Store) {
    let jake = user(store, "jake");
    let anna = user(store, "anna");
    let (this_device, other_device) = ([1u8; 32], [2u8; 32]);
    let (found, signed_out) = store.token_user(jake.id, &this_device).unwrap();
    assert_eq!((found.id, signed_out), (jake.id, false));
    let in_an_hour = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    store.sign_out_token(&this_device, in_an_hour).unwrap();
    store
        .sign_out_token(&this_device, in_an_hour)
        .expect("signing out twice is no error");
    assert!(store.token_user(jake.id, &this_device).unwrap().1);
    assert!(!store.token_user(jake.id, &other_device).unwrap().1);
    assert!(!store.token_user(anna.id, &other_device).unwrap().1);
    assert!(matches!(
        store.token_user(conduit::domain::UserId(9999), &other_device),
        Err(StoreError::NotFound(Entity::User))
    ));
    // A token long expired is forgotten by the next sign-out: it would be
    // refused for its expiry anyway, and the table stays small.
    let (expired, fresh) = ([3u8; 32], [4u8; 32]);
    store.sign_out_token(&expired, 1).unwrap();
    assert!(store.token_user(jake.id, &expired).unwrap().1);
    store.sign_out_token(&fresh, in_an_hour).unwrap();
    assert!(!store.token_user(jake.id, &expired).unwrap().1, "forgotten");
    assert!(store.token_user(jake.id, &this_device).unwrap().1, "kept");
}

fn only_password_changes_bump_the_credential_version(store: &dyn Store) {
    let jake = user(store, "jake");
    let anna = user(store, "anna");
    let bio = UserChanges::parse(None, None, None, Some(Some("hello")), None).unwrap();
    let updated = store.update_user(jake.id, &bio, None).unwrap();
    assert_eq!(updated.bio, "hello");
    assert_eq!(updated.credential_version, jake.credential_version);
    let password = UserChanges::parse(None, None, Some("new-password"), None, None).unwrap();
    let updated = store
        .update_user(jake.id, &password, Some("$scrypt$new"))
        .unwrap();
    assert_eq!(updated.credential_version, jake.credential_version + 1);
    assert_eq!(updated.password_hash, "$scrypt$new");
    assert_eq!(
        store.user_by_id(anna.id).unwrap().credential_version,
        anna.credential_version,
        "others untouched"
    );
    let taken = UserChanges::parse(Some("Anna"), None, None, None, None).unwrap();
    assert!(matches!(
        store.update_user(jake.id, &taken, None),
        Err(StoreError::Conflict(UniqueKey::Username))
    ));
}

fn favorites_are_counted_exactly_and_flagged_per_viewer(store: &dyn Store) {
    let jake = user(store, "jake");
    let anna = user(store, "anna");
    let first = article(store, &jake, "First", &[]);
    let second = article(store, &anna, "Second", &[]);
    store.favorite(jake.id, &first.slug).unwrap();
    store.favorite(anna.id, &first.slug).unwrap();
    store.favorite(anna.id, &first.slug).unwrap(); // idempotent
    store.favorite(anna.id, &second.slug).unwrap();

    for (viewer, first_fav, second_fav) in [
        (Some(jake.id), true, false),
        (Some(anna.id), true, true),
        (None, false, false),
    ] {
        let page = store
            .list_articles(viewer, &all(), Page::default())
            .unwrap();
        assert_eq!(slugs(&page.articles), ["second", "first"], "newest first");
        let (s, f) = (&page.articles[0], &page.articles[1]);
        assert_eq!(
            (f.favorited, f.favorites_count),
            (first_fav, 2),
            "first for {viewer:?}"
        );
        assert_eq!(
            (s.favorited, s.favorites_count),
            (second_fav, 1),
            "second for {viewer:?}"
        );
    }
    let after = store.unfavorite(anna.id, &first.slug).unwrap();
    assert_eq!((after.favorited, after.favorites_count), (false, 1));
    let again = store.unfavorite(anna.id, &first.slug).unwrap();
    assert_eq!(again.favorites_count, 1, "unfavorite is idempotent");
    assert!(matches!(
        store.favorite(jake.id, "missing"),
        Err(StoreError::NotFound(Entity::Article))
    ));
}

fn list_filters_combine_and_count_every_match(store: &dyn Store) {
    let jake = user(store, "jake");
    let anna = user(store, "anna");
    let a1 = article(store, &jake, "Rust one", &["rust", "web"]);
    article(store, &jake, "Go one", &["go"]);
    let a3 = article(store, &anna, "Rust two", &["rust"]);
    store.favorite(anna.id, &a1.slug).unwrap();
    store.favorite(anna.id, &a3.slug).unwrap();

    let filter = |tag: Option<&str>, author: Option<&str>, favorited: Option<&str>| ArticleFilter {
        tag: tag.map(str::to_owned),
        author: author.map(str::to_owned),
        favorited: favorited.map(str::to_owned),
    };
    let cases = [
        (
            filter(Some("rust"), None, None),
            vec!["rust-two", "rust-one"],
        ),
        (filter(None, Some("JAKE"), None), vec!["go-one", "rust-one"]),
        (
            filter(None, None, Some("Anna")),
            vec!["rust-two", "rust-one"],
        ),
        (filter(Some("rust"), Some("jake"), None), vec!["rust-one"]),
        (
            filter(Some("rust"), Some("jake"), Some("anna")),
            vec!["rust-one"],
        ),
        (filter(Some("Rust"), None, None), vec![]),
        (filter(None, Some("nobody"), None), vec![]),
        (filter(None, None, Some("nobody")), vec![]),
    ];
    for (f, expected) in cases {
        let page = store.list_articles(None, &f, Page::default()).unwrap();
        assert_eq!(slugs(&page.articles), expected, "{f:?}");
        assert_eq!(page.articles_count, expected.len() as i64, "{f:?}");
        assert!(
            page.articles.iter().all(|a| a.body.is_none()),
            "lists carry no body"
        );
    }
    let window = store
        .list_articles(
            None,
            &all(),
            Page {
                limit: 1,
                offset: 1,
            },
        )
        .unwrap();
    assert_eq!(slugs(&window.articles), ["go-one"]);
    assert_eq!(window.articles_count, 3, "count ignores paging");
    let past = store
        .list_articles(
            None,
            &all(),
            Page {
                limit: 5,
                offset: 10,
            },
        )
        .unwrap();
    assert!(past.articles.is_empty());
    assert_eq!(past.articles_count, 3);
    let tags = &store
        .list_articles(None, &filter(None, Some("jake"), None), Page::default())
        .unwrap()
        .articles[1]
        .tag_list;
    assert_eq!(tags, &["rust", "web"], "tags in given order");
}

fn feed_lists_only_followed_authors_newest_first(store: &dyn Store) {
    let jake = user(store, "jake");
    let anna = user(store, "anna");
    let bob = user(store, "bob");
    article(store, &jake, "J1", &[]);
    article(store, &anna, "A1", &[]);
    article(store, &bob, "B1", &[]);
    article(store, &jake, "J2", &[]);
    store.follow(bob.id, "jake").unwrap();
    store.follow(bob.id, "ANNA").unwrap();
    let feed = store.feed(bob.id, Page::default()).unwrap();
    assert_eq!(slugs(&feed.articles), ["j2", "a1", "j1"]);
    assert_eq!(feed.articles_count, 3);
    assert!(
        feed.articles.iter().all(|a| a.author.following),
        "bob follows every author in his feed"
    );
    let jakes = store.feed(jake.id, Page::default()).unwrap();
    assert!(
        jakes.articles.is_empty() && jakes.articles_count == 0,
        "jake follows nobody"
    );
    let paged = store
        .feed(
            bob.id,
            Page {
                limit: 2,
                offset: 1,
            },
        )
        .unwrap();
    assert_eq!(slugs(&paged.articles), ["a1", "j1"]);
}

fn following_is_per_viewer_and_never_of_yourself(store: &dyn Store) {
    let jake = user(store, "jake");
    let anna = user(store, "anna");
    assert!(store.follow(anna.id, "jake").unwrap().following);
    assert!(
        store.follow(anna.id, "jake").unwrap().following,
        "idempotent"
    );
    assert!(store.profile(Some(anna.id), "JAKE").unwrap().following);
    assert!(
        !store.profile(Some(jake.id), "anna").unwrap().following,
        "one-way"
    );
    assert!(!store.profile(None, "jake").unwrap().following);
    assert!(matches!(
        store.follow(jake.id, "Jake"),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        store.follow(jake.id, "nobody"),
        Err(StoreError::NotFound(Entity::Profile))
    ));
    assert!(!store.unfollow(anna.id, "jake").unwrap().following);
    assert!(
        !store.unfollow(anna.id, "jake").unwrap().following,
        "idempotent"
    );
    let by_anna = article(store, &jake, "Seen by anna", &[]);
    store.follow(anna.id, "jake").unwrap();
    assert!(
        store
            .article(Some(anna.id), &by_anna.slug)
            .unwrap()
            .author
            .following
    );
    assert!(
        !store
            .article(Some(jake.id), &by_anna.slug)
            .unwrap()
            .author
            .following
    );
}

fn comments_are_oldest_first_and_only_their_author_deletes_them(store: &dyn Store) {
    let jake = user(store, "jake");
    let anna = user(store, "anna");
    let first = article(store, &jake, "Commented", &[]);
    let second = article(store, &jake, "Other", &[]);
    let c1 = store.add_comment(anna.id, &first.slug, "first!").unwrap();
    let c2 = store.add_comment(jake.id, &first.slug, "thanks").unwrap();
    let elsewhere = store
        .add_comment(anna.id, &second.slug, "elsewhere")
        .unwrap();
    store.follow(jake.id, "anna").unwrap();
    let seen = store.comments(Some(jake.id), &first.slug).unwrap();
    assert_eq!(
        seen.iter().map(|c| c.id).collect::<Vec<_>>(),
        [c1.id, c2.id]
    );
    assert!(seen[0].author.following, "jake follows anna");
    assert!(!seen[1].author.following, "nobody follows themselves");
    assert!(matches!(
        store.delete_comment(jake.id, &first.slug, c1.id),
        Err(StoreError::Forbidden(Entity::Comment))
    ));
    assert!(matches!(
        store.delete_comment(anna.id, &first.slug, elsewhere.id),
        Err(StoreError::NotFound(Entity::Comment))
    ));
    store.delete_comment(anna.id, &first.slug, c1.id).unwrap();
    assert_eq!(store.comments(None, &first.slug).unwrap().len(), 1);
    assert!(matches!(
        store.comments(None, "missing"),
        Err(StoreError::NotFound(Entity::Article))
    ));
}

fn only_the_author_updates_or_deletes_an_article(store: &dyn Store) {
    let jake = user(store, "jake");
    let anna = user(store, "anna");
    let mine = article(store, &jake, "Mine", &["a", "b"]);
    article(store, &anna, "Hers", &[]);
    let retitle = ArticleChanges::parse(
        Some("Renamed"),
        None,
        None,
        Some(&["b".to_string(), "c".to_string()]),
    )
    .unwrap();
    assert!(matches!(
        store::update_article(store, anna.id, &mine.slug, &retitle),
        Err(StoreError::Forbidden(Entity::Article))
    ));
    let updated = store::update_article(store, jake.id, &mine.slug, &retitle).unwrap();
    assert_eq!(updated.slug, "renamed");
    assert_eq!(updated.tag_list, ["b", "c"]);
    assert_eq!(updated.description, "description", "untouched");
    assert!(updated.updated_at >= updated.created_at);
    assert!(matches!(
        store.article(None, "mine"),
        Err(StoreError::NotFound(Entity::Article))
    ));
    assert!(matches!(
        store.delete_article(anna.id, "renamed"),
        Err(StoreError::Forbidden(Entity::Article))
    ));
    store.delete_article(jake.id, "renamed").unwrap();
    assert!(matches!(
        store.article(None, "renamed"),
        Err(StoreError::NotFound(Entity::Article))
    ));
    assert_eq!(
        store
            .list_articles(None, &all(), Page::default())
            .unwrap()
            .articles_count,
        1
    );
}

fn repeated_titles_get_distinct_slugs(store: &dyn Store) {
    let jake = user(store, "jake");
    let anna = user(store, "anna");
    let a = article(store, &jake, "Same Title", &[]);
    let b = article(store, &anna, "Same Title", &[]);
    assert_eq!(a.slug, "same-title");
    assert!(
        b.slug.starts_with("same-title-") && b.slug.len() == "same-title-".len() + 6,
        "{}",
        b.slug
    );
    let renamed = ArticleChanges::parse(Some("Same title"), None, None, None).unwrap();
    let kept = store::update_article(store, jake.id, "same-title", &renamed).unwrap();
    assert_eq!(
        kept.slug, "same-title",
        "a title that maps to its own slug keeps it"
    );
}

fn tags_are_ordered_by_use_then_name(store: &dyn Store) {
    let jake = user(store, "jake");
    let anna = user(store, "anna");
    article(store, &jake, "One", &["zeta", "alpha", "mid"]);
    let two = article(store, &anna, "Two", &["zeta", "beta"]);
    article(store, &anna, "Three", &["zeta", "beta", "Alpha"]);
    assert_eq!(
        store.tags().unwrap(),
        ["zeta", "beta", "Alpha", "alpha", "mid"]
    );
    store.delete_article(anna.id, &two.slug).unwrap();
    assert_eq!(
        store.tags().unwrap(),
        ["zeta", "Alpha", "alpha", "beta", "mid"]
    );
}

/// Every filter with a count kept by the database, and the feed's viewer.
fn counted_filters() -> Vec<ArticleFilter> {
    let f = |tag: Option<&str>, author: Option<&str>, favorited: Option<&str>| ArticleFilter {
        tag: tag.map(str::to_owned),
        author: author.map(str::to_owned),
        favorited: favorited.map(str::to_owned),
    };
    vec![
        f(None, None, None),
        f(Some("red"), None, None),
        f(Some("blue"), None, None),
        f(None, Some("jake"), None),
        f(None, Some("anna"), None),
        f(None, None, Some("anna")),
        f(None, None, Some("jake")),
        f(Some("red"), Some("jake"), None),
    ]
}

/// Every slug of a list, newest first, read page by page.
fn walk(list: impl Fn(Page) -> conduit::domain::views::ArticlePage) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let page = list(Page {
            limit: 100,
            offset: seen.len() as i64,
        });
        let done = page.articles.len() < 100;
        seen.extend(page.articles.into_iter().map(|a| a.slug));
        if done {
            return seen;
        }
    }
}

/// Each list's count is the number of articles a walk over its pages finds.
fn assert_counts_match_the_lists(store: &dyn Store, follower: &UserRecord, step: &str) {
    for filter in counted_filters() {
        let counted = store
            .list_articles(None, &filter, Page::default())
            .unwrap()
            .articles_count;
        let listed = walk(|page| store.list_articles(None, &filter, page).unwrap());
        assert_eq!(counted, listed.len() as i64, "{step}: {filter:?}");
    }
    let counted = store
        .feed(follower.id, Page::default())
        .unwrap()
        .articles_count;
    let listed = walk(|page| store.feed(follower.id, page).unwrap());
    assert_eq!(counted, listed.len() as i64, "{step}: feed");
}

fn counts_stay_exact_through_writes_edits_and_deletes(store: &dyn Store) {
    let jake = user(store, "jake");
    let anna = user(store, "anna");
    let bob = user(store, "bob");
    store.follow(bob.id, "jake").unwrap();
    store.follow(bob.id, "anna").unwrap();
    assert_counts_match_the_lists(store, &bob, "empty");
    let mut slugs = Vec::new();
    for i in 0..30 {
        let (author, tags): (&UserRecord, &[&str]) = match i % 3 {
            0 => (&jake, &["red"]),
            1 => (&anna, &["red", "blue"]),
            _ => (&jake, &[]),
        };
        slugs.push(article(store, author, &format!("Article {i}"), tags).slug);
    }
    for slug in slugs.iter().step_by(2) {
        store.favorite(anna.id, slug).unwrap();
        store.favorite(jake.id, slug).unwrap();
    }
    assert_counts_match_the_lists(store, &bob, "created and favorited");

    // Re-tagging moves articles between tags; unfavoriting and deleting
    // (whose favorites and tags go with the article) take them out.
    let retag = ArticleChanges {
        tags: Some(vec!["blue".to_owned()]),
        ..ArticleChanges::default()
    };
    store::update_article(store, jake.id, &slugs[0], &retag).unwrap();
    store.unfavorite(anna.id, &slugs[2]).unwrap();
    store.unfavorite(anna.id, &slugs[2]).unwrap();
    store.favorite(jake.id, &slugs[4]).unwrap();
    for slug in [&slugs[3], &slugs[5], &slugs[6]] {
        store.delete_article(jake.id, slug).unwrap();
    }
    for slug in [&slugs[1], &slugs[4]] {
        store.delete_article(anna.id, slug).unwrap();
    }
    store.unfollow(bob.id, "anna").unwrap();
    assert_counts_match_the_lists(store, &bob, "edited and deleted");
}

fn counts_stay_exact_under_concurrent_writes_and_deletes(store: &dyn Store) {
    let writers: Vec<UserRecord> = (0..4).map(|i| user(store, &format!("writer{i}"))).collect();
    let reader = user(store, "reader");
    for w in &writers {
        store.follow(reader.id, &w.username).unwrap();
    }
    std::thread::scope(|scope| {
        for (n, writer) in writers.iter().enumerate() {
            let fan = &writers[(n + 1) % writers.len()];
            scope.spawn(move || {
                for i in 0..40 {
                    let tags: Vec<String> = ["red", "blue"][..1 + i % 2]
                        .iter()
                        .map(|t| t.to_string())
                        .collect();
                    let new = NewArticle::parse(
                        Some(&format!("By {} number {i}", writer.username)),
                        Some("d"),
                        Some("b"),
                        Some(&tags),
                    )
                    .unwrap();
                    let created =
                        store::create_article(store, writer.id, &new).expect("concurrent create");
                    store
                        .favorite(fan.id, &created.slug)
                        .expect("concurrent favorite");
                    if i % 3 == 0 {
                        store
                            .delete_article(writer.id, &created.slug)
                            .expect("concurrent delete");
                    }
                }
            });
        }
    });
    let counted = |filter: ArticleFilter| {
        let page = store.list_articles(None, &filter, Page::default()).unwrap();
        let listed = walk(|p| store.list_articles(None, &filter, p).unwrap());
        assert_eq!(page.articles_count, listed.len() as i64, "{filter:?}");
        page.articles_count
    };
    // 40 each, a third of them (14) deleted.
    assert_eq!(counted(all()), 4 * 26);
    for w in &writers {
        let by = ArticleFilter {
            author: Some(w.username.clone()),
            ..all()
        };
        assert_eq!(counted(by), 26);
        let fan = ArticleFilter {
            favorited: Some(w.username.clone()),
            ..all()
        };
        assert_eq!(counted(fan), 26);
    }
    let red = ArticleFilter {
        tag: Some("red".to_owned()),
        ..all()
    };
    assert_eq!(counted(red), 4 * 26);
    assert_eq!(
        store
            .feed(reader.id, Page::default())
            .unwrap()
            .articles_count,
        4 * 26
    );
}

fn deep_pages_are_the_same_rows_as_a_walk_from_the_start(store: &dyn Store) {
    // More than two blocks of 4096 ids, with holes, so a deep page is found
    // through the blocks and must land exactly where stepping would.
    let jake = user(store, "jake");
    let anna = user(store, "anna");
    let mut all_slugs = Vec::new();
    let mut odd_slugs = Vec::new();
    for i in 0..9_000 {
        let tags: &[&str] = if i % 2 == 1 { &["odd"] } else { &[] };
        let author = if i % 5 == 0 { &anna } else { &jake };
        let created = article(store, author, &format!("N{i}"), tags);
        if i % 7 == 3 {
            store.delete_article(author.id, &created.slug).unwrap();
            continue;
        }
        if i % 2 == 1 {
            odd_slugs.push(created.slug.clone());
        }
        all_slugs.push(created.slug);
    }
    all_slugs.reverse();
    odd_slugs.reverse();
    let odd = ArticleFilter {
        tag: Some("odd".to_owned()),
        ..all()
    };
    for (filter, expected) in [(all(), &all_slugs), (odd, &odd_slugs)] {
        let total = expected.len() as i64;
        let offsets = [
            0,
            19,
            4095,
            4096,
            4097,
            4100,
            5000,
            8191,
            8192,
            total - 21,
            total - 20,
            total - 1,
            total,
            total + 7,
        ];
        for offset in offsets.into_iter().filter(|o| *o >= 0) {
            for limit in [1, 20, 100] {
                let page = store
                    .list_articles(None, &filter, Page { limit, offset })
                    .unwrap();
                let from = (offset as usize).min(expected.len());
                let to = (from + limit as usize).min(expected.len());
                assert_eq!(
                    slugs(&page.articles),
                    expected[from..to]
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>(),
                    "{filter:?} offset {offset} limit {limit}"
                );
                assert_eq!(page.articles_count, total, "{filter:?}");
            }
        }
    }
}

/// Only the newest `RANKED_MAX` matches are ranked and counted: a search
/// costs the same however many articles match.
fn search_ranks_and_counts_the_newest_matches_only(store: &dyn Store) {
    let alice = user(store, "alice");
    let bob = user(store, "bob");
    let total = RANKED_MAX + 5;
    let mut newest = Vec::new();
    for i in 0..total {
        let author = if i % 2 == 0 { &alice } else { &bob };
        // The oldest article matches best (the word in its title); it is
        // not among the newest RANKED_MAX, so it is never shown.
        let title = if i == 0 {
            "common word".to_owned()
        } else {
            format!("entry {i}")
        };
        let new = NewArticle::parse(Some(&title), Some(""), Some("common text"), Some(&[]))
            .expect("valid article");
        newest.push(store::create_article(store, author.id, &new).unwrap().slug);
    }
    newest.reverse();
    let query = SearchQuery::parse("common").unwrap();
    let page = store
        .search_articles(
            None,
            &query,
            Page {
                limit: 100,
                offset: 0,
            },
        )
        .unwrap();
    assert_eq!(page.articles_count, RANKED_MAX, "counted up to the cap");
    assert_eq!(
        slugs(&page.articles),
        newest[..100].iter().map(String::as_str).collect::<Vec<_>>(),
        "equal scores: newest first"
    );
    let last = store
        .search_articles(
            None,
            &query,
            Page {
                limit: 100,
                offset: RANKED_MAX - 1,
            },
        )
        .unwrap();
    assert_eq!(
        slugs(&last.articles),
        [newest[RANKED_MAX as usize - 1].as_str()]
    );
}

/// Feeds read whole articles (bodies included) of one list, newest first,
/// with the ids that name them for good.
fn entry_slugs(entries: &[FeedEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.article.slug.as_str()).collect()
}

fn latest_articles_are_whole_and_newest_first(store: &dyn Store) {
    let alice = user(store, "alice");
    let bob = user(store, "bob");
    let a1 = article(store, &alice, "A one", &["x"]);
    let b1 = article(store, &bob, "B one", &["x", "y"]);
    let a2 = article(store, &alice, "A two", &["y"]);
    let everything = store.latest_articles(&all(), 20).unwrap();
    assert_eq!(entry_slugs(&everything), [&*a2.slug, &b1.slug, &a1.slug]);
    assert!(everything
        .iter()
        .all(|e| e.article.body.as_deref() == Some("body")));
    assert!(
        everything.windows(2).all(|w| w[0].id > w[1].id),
        "ids descend"
    );
    let tagged = ArticleFilter {
        tag: Some("x".into()),
        ..all()
    };
    assert_eq!(
        entry_slugs(&store.latest_articles(&tagged, 20).unwrap()),
        [&*b1.slug, &a1.slug]
    );
    let by_alice = ArticleFilter {
        author: Some("ALICE".into()),
        ..all()
    };
    assert_eq!(
        entry_slugs(&store.latest_articles(&by_alice, 1).unwrap()),
        [&*a2.slug]
    );
    let nobody = ArticleFilter {
        author: Some("nobody".into()),
        ..all()
    };
    assert!(store.latest_articles(&nobody, 20).unwrap().is_empty());
}

/// The sitemap's pages are blocks of ids that hold rows, each read as a
/// range of ids; profiles carry no update time.
fn sitemap_pages_are_blocks_of_ids_that_hold_rows(store: &dyn Store) {
    assert_eq!(store.sitemap_blocks(5000).unwrap(), (vec![], vec![]));
    let alice = user(store, "alice");
    let bob = user(store, "bob");
    let a1 = article(store, &alice, "A one", &[]);
    let b1 = article(store, &bob, "B one", &[]);
    assert_eq!(store.sitemap_blocks(5000).unwrap(), (vec![0], vec![0]));
    // Blocks of one id each: one per row, in order.
    let (articles, users) = store.sitemap_blocks(1).unwrap();
    assert_eq!(
        (articles.len(), users.len()),
        (2, 2),
        "{articles:?} {users:?}"
    );
    assert!(articles[0] < articles[1]);
    let last = articles[1];
    let slugs_in = |ids| -> Vec<String> {
        store
            .sitemap_articles(ids)
            .unwrap()
            .into_iter()
            .map(|e| {
                assert!(e.updated_at.is_some(), "articles carry lastmod");
                e.key
            })
            .collect()
    };
    assert_eq!(slugs_in(0..last + 1), [a1.slug.clone(), b1.slug.clone()]);
    assert_eq!(slugs_in(last..last + 1), [b1.slug.as_str()]);
    assert!(slugs_in(last + 1..last + 100).is_empty());
    let profiles = store.sitemap_profiles(0..users[1] + 1).unwrap();
    assert_eq!(
        profiles,
        ["alice", "bob"].map(|key| SitemapEntry {
            key: key.into(),
            updated_at: None
        })
    );
}

fn migrations_apply_once_and_report_the_version(store: &dyn Store) {
    let version = store.schema_version().unwrap();
    assert!(version >= 1);
    assert!(
        store.migrate().unwrap().is_empty(),
        "nothing pending the second time"
    );
    assert_eq!(store.schema_version().unwrap(), version);
}

fn settings_keep_their_first_value(store: &dyn Store) {
    assert_eq!(store.setting_or_insert("k", "first").unwrap(), "first");
    assert_eq!(store.setting_or_insert("k", "second").unwrap(), "first");
    assert_eq!(store.setting_or_insert("other", "x").unwrap(), "x");
}

store_tests!(
    users_are_unique_by_username_and_email_ignoring_case,
    a_signed_out_token_is_refused_and_no_other,
    only_password_changes_bump_the_credential_version,
    favorites_are_counted_exactly_and_flagged_per_viewer,
    list_filters_combine_and_count_every_match,
    feed_lists_only_followed_authors_newest_first,
    following_is_per_viewer_and_never_of_yourself,
    comments_are_oldest_first_and_only_their_author_deletes_them,
    only_the_author_updates_or_deletes_an_article,
    repeated_titles_get_distinct_slugs,
    tags_are_ordered_by_use_then_name,
    migrations_apply_once_and_report_the_version,
    settings_keep_their_first_value,
    counts_stay_exact_through_writes_edits_and_deletes,
    counts_stay_exact_under_concurrent_writes_and_deletes,
    deep_pages_are_the_same_rows_as_a_walk_from_the_start,
    search_ranks_and_counts_the_newest_matches_only,
    latest_articles_are_whole_and_newest_first,
    sitemap_pages_are_blocks_of_ids_that_hold_rows,
);
