//! A real browser for the web app's tests: Debian's Chromium, headless,
//! driven over WebDriver by chromedriver, one of each per test.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::helpers::TestApp;

/// How long a page may take to show what a test waits for.
const PATIENCE: Duration = Duration::from_secs(10);

fn chromedriver_path() -> String {
    std::env::var("CONDUIT_TEST_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into())
}

fn chromium_path() -> String {
    std::env::var("CONDUIT_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// chromedriver on a port of its own; killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Result<Driver> {
        // Port 0: chromedriver takes a free port itself and says which, so
        // no other program can take it between a pick and the start.
        let mut child = Command::new(chromedriver_path())
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (apt-get install chromium-driver)",
                    chromedriver_path()
                )
            })?;
        let stdout = child.stdout.take().context("chromedriver's output")?;
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Read every line, so a full pipe never blocks chromedriver.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    let port = rest.trim_end_matches('.').trim().parse::<u16>();
                    let _ = port_tx.send(port);
                }
            }
        });
        let mut driver = Driver { child, port: 0 };
        driver.port = match port_rx.recv_timeout(PATIENCE) {
            Ok(Ok(port)) => port,
            Ok(Err(error)) => bail!("chromedriver named no port: {error}"),
            Err(_) => bail!("chromedriver did not start within {PATIENCE:?}"),
        };
        Ok(driver)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session on one app.
#[derive(Clone)]
pub struct Browser {
    pub client: Client,
    /// `http://127.0.0.1:PORT`, the app's address.
    pub origin: String,
}

/// Runs `flow` in a fresh headless Chromium against `app`. When it fails,
/// the page as it was is saved under `target/` and the test fails naming
/// the file.
pub async fn in_browser<F, Fut>(name: &str, app: &TestApp, flow: F)
where
    F: FnOnce(Browser) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let driver = Driver::start().expect("chromedriver starts");
    let profile = tempfile::tempdir().expect("a profile folder");
    let capabilities = json!({
        // Commands wait for the document, not for every image: an avatar
        // URL that never answers must not stall a test.
        "pageLoadStrategy": "eager",
        "goog:chromeOptions": {
            "binary": chromium_path(),
            "args": [
                "--headless", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!("a JSON object literal")
    };
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session");
    let browser = Browser {
        client: client.clone(),
        origin: format!("http://{}", app.addr),
    };
    let outcome = flow(browser.clone()).await;
    let failure = match outcome {
        Ok(()) => None,
        Err(error) => {
            let shot = browser.save_screenshot(&format!("failed-{name}")).await;
            let url = client.current_url().await.map(|u| u.to_string());
            Some(format!(
                "{error:#}\n  page: {}\n  screenshot: {}",
                url.unwrap_or_else(|e| format!("unknown ({e})")),
                match shot {
                    Ok(path) => path.display().to_string(),
                    Err(e) => format!("none ({e:#})"),
                }
            ))
        }
    };
    let _ = client.close().await;
    drop(driver);
    if let Some(failure) = failure {
        panic!("browser flow '{name}' failed: {failure}");
    }
}

impl Browser {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    pub async fn goto(&self, path: &str) -> Result<()> {
        self.client
            .goto(&self.url(path))
            .await
            .with_context(|| format!("opening {path}"))
    }

    /// The current page's path and query.
    pub async fn path(&self) -> Result<String> {
        let url = self.client.current_url().await?;
        Ok(match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        })
    }

    /// The first element matching `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> Result<Element> {
        let found = self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(element) => Ok(element),
            Err(error) => Err(anyhow!(error).context(format!(
                "no element matches {css} on {}",
                self.describe().await
            ))),
        }
    }

    pub async fn find_all(&self, css: &str) -> Result<Vec<Element>> {
        Ok(self.client.find_all(Locator::Css(css)).await?)
    }

    /// The texts of every element matching `css` (none is an empty list).
    pub async fn texts(&self, css: &str) -> Result<Vec<String>> {
        let mut texts = Vec::new();
        for element in self.find_all(css).await? {
            texts.push(element.text().await?.trim().to_owned());
        }
        Ok(texts)
    }

    /// Types `text` into the field `css`, replacing what it held.
    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let field = self.find(css).await?;
        field.clear().await?;
        field.send_keys(text).await?;
        Ok(())
    }

    pub async fn click(&self, css: &str) -> Result<()> {
        self.find(css)
            .await?
            .click()
            .await
            .with_context(|| format!("clicking {css}"))
    }

    /// Waits until an element matching `css` shows `text`.
    pub async fn expect_text(&self, css: &str, text: &str) -> Result<()> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            // A page that is being replaced may answer with stale
            // elements: that is "not yet", not a failure.
            let texts = self.texts(css).await.unwrap_or_default();
            if texts.iter().any(|t| t.contains(text)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(anyhow!(
                    "expected {css} to show {text:?}; it shows {texts:?} on {}",
                    self.describe().await
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until nothing matches `css` (after a post that returns to the
    /// same page, whose path alone cannot tell the new page from the old).
    pub async fn expect_gone(&self, css: &str) -> Result<()> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.find_all(css).await {
                Ok(found) if found.is_empty() => return Ok(()),
                _ if Instant::now() > deadline => {
                    bail!("{css} is still on {}", self.describe().await)
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Waits until the browser is on `path` (path and query).
    pub async fn expect_path(&self, path: &str) -> Result<()> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let here = self.path().await?;
            if here == path {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("expected to be on {path}, but the browser is on {here}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Where the browser is and the page's heading, for error messages.
    async fn describe(&self) -> String {
        let path = self.path().await.unwrap_or_default();
        let title = self.client.title().await.unwrap_or_default();
        format!("{path} (\"{title}\")")
    }

    /// Saves the page as `target/tmp/browser/<name>.png`.
    pub async fn save_screenshot(&self, name: &str) -> Result<PathBuf> {
        let png = self.client.screenshot().await?;
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }
}
