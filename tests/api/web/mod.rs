//! The web app: its pages over HTTP (`pages`), and whole flows in a real
//! browser (`flows`).

/// Like `http_tests!`, for tests that drive Chromium: every one is ignored
/// unless asked for (`--run-ignored all`), since they need Debian's
/// `chromium` and `chromium-driver`; the PostgreSQL ones also need
/// `CONDUIT_TEST_POSTGRES_URL`.
macro_rules! browser_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                #[ignore = "needs chromium and chromium-driver: pass --run-ignored all"]
                async fn $name() {
                    super::$name($crate::helpers::spawn_app_on($crate::helpers::Backend::Sqlite).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                #[ignore = "needs chromium, chromium-driver and PostgreSQL: set CONDUIT_TEST_POSTGRES_URL and pass --run-ignored all"]
                async fn $name() {
                    super::$name($crate::helpers::spawn_app_on($crate::helpers::Backend::Postgres).await).await
                }
            )*
        }
    };
}

mod browser;
mod flows;
mod pages;
