//! Spawning the app and talking to it.

use std::net::SocketAddr;

use conduit::app::App;
use conduit::config::{self, Config};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::oneshot;

/// Declares `#[tokio::test]`s that run each listed `async fn(TestApp)`
/// against a fresh server, once per backend. The PostgreSQL ones are
/// ignored unless run with `--run-ignored` and `CONDUIT_TEST_POSTGRES_URL`.
macro_rules! http_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::helpers::spawn_app_on($crate::helpers::Backend::Sqlite).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                #[ignore = "needs PostgreSQL: set CONDUIT_TEST_POSTGRES_URL and pass --run-ignored all"]
                async fn $name() {
                    super::$name($crate::helpers::spawn_app_on($crate::helpers::Backend::Postgres).await).await
                }
            )*
        }
    };
}

/// `async fn name(backend: Backend)` tests, run once per backend: for
/// tests that need a configuration of their own (`spawn_app_with`).
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                #[ignore = "needs PostgreSQL: set CONDUIT_TEST_POSTGRES_URL and pass --run-ignored all"]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

/// Which storage backend a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database of a test's own: a SQLite file in a temporary folder, or a
/// fresh schema on the PostgreSQL server named by `CONDUIT_TEST_POSTGRES_URL`
/// (dropped again when the test ends).
pub struct TestDatabase {
    pub url: String,
    /// Keeps the SQLite folder alive.
    _dir: Option<TempDir>,
    /// The server URL and schema to drop.
    schema: Option<(String, String)>,
}

impl TestDatabase {
    pub fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                TestDatabase {
                    url: format!("sqlite://{}", dir.path().join("conduit.db").display()),
                    _dir: Some(dir),
                    schema: None,
                }
            }
            Backend::Postgres => {
                let server = postgres_server_url();
                let schema = format!("test_{:016x}", rand::random::<u64>());
                run_sql(&server, &format!("CREATE SCHEMA {schema}"));
                let separator = if server.contains('?') { '&' } else { '?' };
                TestDatabase {
                    url: format!("{server}{separator}options=-c%20search_path%3D{schema}"),
                    _dir: None,
                    schema: Some((server, schema)),
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((server, schema)) = self.schema.take() {
            run_sql(&server, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

/// The PostgreSQL server for tests; its absence is a test failure, since
/// these tests only run when asked for.
pub fn postgres_server_url() -> String {
    std::env::var("CONDUIT_TEST_POSTGRES_URL")
        .expect("CONDUIT_TEST_POSTGRES_URL must name a PostgreSQL server for this test")
}

/// Runs `sql` on its own connection, on a plain thread: the synchronous
/// client must not run on an async runtime's thread.
pub fn run_sql(url: &str, sql: &str) {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls)
            .expect("connect to the test server");
        client.batch_execute(&sql).expect("test SQL runs");
    })
    .join()
    .expect("SQL thread");
}

/// A running server with its own database; stopped when dropped.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub db: TestDatabase,
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

pub async fn spawn_app_on(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Spawns a server whose config `adjust` may change (database excepted).
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let db = TestDatabase::new(backend);
    let mut config = config::for_tests(std::path::Path::new("unused"));
    config.database_url = config::Secret::new(db.url.clone());
    config.migrate_on_start = true;
    adjust(&mut config);
    start(db, config).await
}

async fn start(db: TestDatabase, config: Config) -> TestApp {
    let app = App::build(&config).await.expect("app builds");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        app.serve(listener, None, async {
            let _ = rx.await;
        })
        .await;
    });
    TestApp {
        addr,
        client: reqwest::Client::new(),
        db,
        config,
        shutdown: Some(tx),
        server: Some(server),
    }
}

impl TestApp {
    /// Stops this server and starts another on the same database and config.
    pub async fn restart(mut self) -> TestApp {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        let db = std::mem::replace(
            &mut self.db,
            TestDatabase {
                url: String::new(),
                _dir: None,
                schema: None,
            },
        );
        start(db, self.config.clone()).await
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

/// The `conduit` binary serving on a free port in `dir`, with a clean
/// environment plus `envs`; killed when dropped.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    /// Every log line after "conduit listening", collected in the background.
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ServerProcess {
    pub fn start(dir: &std::path::Path, envs: &[(&str, &str)]) -> ServerProcess {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_conduit"))
            .arg("serve")
            .env_clear()
            .current_dir(dir)
            .env("CONDUIT_LISTEN", "127.0.0.1:0")
            .env("CONDUIT_LOG_FORMAT", "json")
            .envs(envs.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn conduit serve");
        let mut lines = std::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the server logs until it listens")
                .expect("readable log");
            let entry: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if entry["message"] == "conduit listening" {
                break entry["addr"]
                    .as_str()
                    .expect("addr")
                    .parse()
                    .expect("socket address");
            }
        };
        // Keep reading, so a full pipe never blocks the server's logging.
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().expect("log sink").push(line);
            }
        });
        ServerProcess { child, addr, logs }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Sends a signal (`TERM`, `KILL`) to the server process.
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.pid()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name}");
    }

    /// Waits for the process to exit, at most `limit`.
    pub fn wait(&mut self, limit: std::time::Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "server still running after {limit:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// The value of one sample of the server's `/metrics`, named with its
    /// labels as exposed (`conduit_trace_spans_total{outcome="dropped"}`);
    /// 0 when the series does not exist yet.
    pub async fn metric(&self, sample: &str) -> f64 {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .expect("/metrics answers")
            .text()
            .await
            .expect("/metrics has a body");
        let prefix = format!("{sample} ");
        text.lines()
            .find_map(|line| line.strip_prefix(prefix.as_str()))
            .map_or(0.0, |v| v.trim().parse().expect("a number"))
    }

    /// Peak resident memory so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response read off a raw socket.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// The header lines, lowercased.
    pub head: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Writes `head` (the request line and headers, `\r\n`-separated, without
/// the blank line) and then all of `body` at once, without waiting for
/// `100 Continue`, as browsers and most HTTP libraries do; then reads the
/// answer to the end (the request says `Connection: close`). Any failure
/// to write or read, a reset among them, is an `Err` naming the step.
///
/// The client is a blocking socket on a thread of its own, as a client in
/// another process would be: it keeps writing while the server answers.
pub async fn raw_exchange(
    addr: SocketAddr,
    head: &str,
    body: &[u8],
) -> Result<RawResponse, String> {
    use std::io::{Read, Write};
    let head = format!(
        "{head}\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let body = body.to_vec();
    let exchange = move || {
        let mut stream = std::net::TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
        let limit = Some(std::time::Duration::from_secs(20));
        stream
            .set_read_timeout(limit)
            .and_then(|()| stream.set_write_timeout(limit))
            .map_err(|e| format!("timeouts: {e}"))?;
        stream
            .write_all(head.as_bytes())
            .map_err(|e| format!("writing the head: {e}"))?;
        stream
            .write_all(&body)
            .map_err(|e| format!("writing the body: {e}"))?;
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .map_err(|e| format!("reading the answer: {e}"))?;
        parse_raw_response(&answer)
    };
    tokio::task::spawn_blocking(exchange)
        .await
        .map_err(|e| format!("the client thread failed: {e}"))?
}

/// Splits an HTTP/1.1 answer (with `Content-Length`) into its parts; the
/// body must be complete.
pub fn parse_raw_response(answer: &[u8]) -> Result<RawResponse, String> {
    let text = String::from_utf8_lossy(answer);
    let (head, _) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no complete head in {} bytes: {text:?}", answer.len()))?;
    let status = head
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("no status line: {head:?}"))?;
    let head = head.to_ascii_lowercase();
    let body = answer[head.len() + 4..].to_vec();
    let declared: Option<usize> = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok());
    if declared.is_some_and(|length| length != body.len()) {
        return Err(format!(
            "body cut short: {} of {declared:?} bytes",
            body.len()
        ));
    }
    Ok(RawResponse { status, head, body })
}
