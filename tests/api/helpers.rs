//! Spawning the app and talking to it.

use std::net::SocketAddr;
use std::path::PathBuf;

use conduit::app::App;
use conduit::config::{self, Config};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::oneshot;

/// Declares `#[tokio::test]`s that run each listed `async fn(TestApp)`
/// against a fresh server.
macro_rules! http_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::helpers::spawn_app().await).await
                }
            )*
        }
    };
}

/// A running server with its own database; stopped when dropped.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// The folder that holds the SQLite file; removed on drop.
    pub dir: TempDir,
    pub config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// A response, with its body parsed as JSON (`Value::Null` when empty).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

/// A registered user and their token.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub username: String,
    pub email: String,
    pub password: String,
    pub token: String,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Spawns a server whose config `adjust` may change (database excepted).
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = config::for_tests(&dir.path().join("conduit.db"));
    adjust(&mut config);
    start(dir, config).await
}

async fn start(dir: TempDir, config: Config) -> TestApp {
    let app = App::build(&config).await.expect("app builds");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(listener, async {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        client: reqwest::Client::new(),
        dir,
        config,
        shutdown: Some(tx),
        server: Some(server),
    }
}

impl TestApp {
    /// Stops this server and starts another on the same database and config.
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
        start(dir, self.config.clone()).await
    }

    async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("conduit.db")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends a request; `body` is sent as JSON when given.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Token {token}"));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        into_resp(request.send().await.expect("request sent")).await
    }

    /// Sends raw bytes with arbitrary headers.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> Resp {
        let mut request = self.client.request(method, self.url(path)).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        into_resp(request.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.send(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.send(Method::POST, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.send(Method::PUT, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Resp {
        self.send(Method::DELETE, path, token, None).await
    }

    /// Registers `username` (email `username@example.com`, password
    /// `password-of-username`) and returns it with its token.
    pub async fn register(&self, username: &str) -> TestUser {
        let email = format!("{username}@example.com");
        let password = format!("password-of-{username}");
        let resp = self
            .post(
                "/api/users",
                None,
                json!({"user": {"username": username, "email": email, "password": password}}),
            )
            .await;
        assert_eq!(resp.status, 201, "registering {username}: {:?}", resp.body);
        TestUser {
            username: username.to_owned(),
            email,
            password,
            token: resp.body["user"]["token"]
                .as_str()
                .expect("token")
                .to_owned(),
        }
    }

    /// Creates an article and returns its JSON (`article` unwrapped).
    pub async fn create_article(&self, author: &TestUser, title: &str, tags: &[&str]) -> Value {
        let resp = self
            .post(
                "/api/articles",
                Some(&author.token),
                json!({"article": {
                    "title": title,
                    "description": format!("About {title}"),
                    "body": format!("The body of {title}."),
                    "tagList": tags,
                }}),
            )
            .await;
        assert_eq!(resp.status, 201, "creating {title}: {:?}", resp.body);
        resp.body["article"].clone()
    }

    pub async fn follow(&self, follower: &TestUser, followee: &TestUser) {
        let resp = self
            .post(
                &format!("/api/profiles/{}/follow", followee.username),
                Some(&follower.token),
                json!({}),
            )
            .await;
        assert_eq!(resp.status, 200, "follow: {:?}", resp.body);
    }

    pub async fn favorite(&self, user: &TestUser, slug: &str) {
        let resp = self
            .post(
                &format!("/api/articles/{slug}/favorite"),
                Some(&user.token),
                json!({}),
            )
            .await;
        assert_eq!(resp.status, 200, "favorite: {:?}", resp.body);
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn into_resp(response: reqwest::Response) -> Resp {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("response body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("body is not JSON: {}", String::from_utf8_lossy(&bytes)))
    };
    Resp {
        status,
        headers,
        body,
    }
}

impl Resp {
    /// Asserts the status and the RealWorld error shape, with a message
    /// containing `needle`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, needle: &str, context: &str) {
        assert_eq!(self.status, status, "{context}: {:?}", self.body);
        let messages = self.body["errors"]["body"]
            .as_array()
            .unwrap_or_else(|| panic!("{context}: not an error body: {:?}", self.body));
        assert!(!messages.is_empty(), "{context}: no error message");
        assert!(
            messages
                .iter()
                .any(|m| m.as_str().is_some_and(|m| m.contains(needle))),
            "{context}: expected a message containing {needle:?}, got {messages:?}"
        );
    }
}

/// Checks `2026-11-26T10:20:59.198Z`: RFC 3339, UTC, milliseconds.
#[track_caller]
pub fn assert_timestamp(value: &Value) {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("timestamp is not a string: {value:?}"));
    let b = s.as_bytes();
    let shape_ok = s.len() == 24
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z'
        && s.chars()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16, 19, 23].contains(&i) || c.is_ascii_digit());
    assert!(shape_ok, "not RFC 3339 UTC with milliseconds: {s}");
}
