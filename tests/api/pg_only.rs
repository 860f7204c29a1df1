//! PostgreSQL-only behaviour: TLS modes, migrations under an advisory lock,
//! the schema check at start, and faults (server down at start, restarted
//! while serving, pool exhausted) against a throwaway cluster of the test's
//! own, so stopping it never disturbs the shared server.
//!
//! All ignored unless run with `--run-ignored all` and
//! `CONDUIT_TEST_POSTGRES_URL`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use conduit::store::{self, DatabaseUrl, PoolOptions};
use serde_json::json;

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_conduit");
const SECRET: &str = "a-test-secret-of-at-least-thirty-two-bytes";

fn options(startup_timeout_secs: u64) -> PoolOptions {
    PoolOptions {
        pool_size: 2,
        pool_timeout_ms: 1_000,
        startup_timeout_secs,
        statement_timeout: Duration::from_secs(15),
    }
}

/// The shared server's URL with `sslmode` (and more) appended.
fn with_params(params: &str) -> String {
    let server = postgres_server_url();
    let separator = if server.contains('?') { '&' } else { '?' };
    format!("{server}{separator}{params}")
}

fn open(url: &str) -> Result<std::sync::Arc<dyn store::Store>, String> {
    store::open(&DatabaseUrl::parse(url)?, &options(0))
}

/// A self-signed CA certificate (its key was thrown away) that signed
/// nothing: a root file that must not let any server through.
const OTHER_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBszCCAVmgAwIBAgIUKAjDgcPQ9lyogYGAMAB3EJnYvFUwCgYIKoZIzj0EAwIw
LjEsMCoGA1UEAwwjQ29uZHVpdCB0ZXN0IENBIHRoYXQgc2lnbmVkIG5vdGhpbmcw
IBcNMjYxMjA0MTgzMjA0WhgPMjEyNjExMTAxODMyMDRaMC4xLDAqBgNVBAMMI0Nv
bmR1aXQgdGVzdCBDQSB0aGF0IHNpZ25lZCBub3RoaW5nMFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEfr4k3wxrES7jRZRxUd0Bltqcmu3obudaOSJSY2reS9RzQKO5
gWO76MY3FL3g3oItjnADfeh270OIv83FnViMkaNTMFEwHQYDVR0OBBYEFMmViC34
s7Hk3sOmeieXcsIp2hQFMB8GA1UdIwQYMBaAFMmViC34s7Hk3sOmeieXcsIp2hQF
MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgH3+69+VPpYZyrm2R
6q7qeTFLpYBPCEZqcVCYdAv0wTMCIQCabfG+Q6mWq76Ms9OLxyt+3Fs3bPIO78Aq
BRGdFgb9+w==
-----END CERTIFICATE-----
";

/// The server's own certificate file, when this process can read it.
fn server_certificate() -> Option<PathBuf> {
    let url = postgres_server_url();
    let path = std::thread::spawn(move || {
        let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).ok()?;
        client
            .query_one("SHOW ssl_cert_file", &[])
            .ok()
            .map(|r| r.get::<_, String>(0))
    })
    .join()
    .ok()
    .flatten()?;
    let path = PathBuf::from(path);
    std::fs::read(&path).ok().map(|_| path)
}

#[test]
#[ignore = "needs PostgreSQL"]
fn tls_modes_follow_libpq() {
    for mode in ["disable", "prefer", "require"] {
        let store = open(&with_params(&format!("sslmode={mode}")))
            .unwrap_or_else(|e| panic!("sslmode={mode} connects: {e}"));
        store
            .schema_version()
            .unwrap_or_else(|e| panic!("sslmode={mode} queries: {e}"));
    }
    // Verifying without a root file is refused before connecting, as libpq
    // refuses it: public roots alone would accept any public certificate.
    for mode in ["verify-ca", "verify-full"] {
        let error = open(&with_params(&format!("sslmode={mode}")))
            .err()
            .unwrap_or_else(|| panic!("sslmode={mode} without sslrootcert must be refused"));
        assert!(error.contains("sslrootcert"), "{mode}: {error}");
    }
    // The local server's certificate is self-signed: not in the public roots.
    let error = open(&with_params("sslrootcert=system"))
        .err()
        .expect("sslrootcert=system must not trust a self-signed certificate");
    assert!(error.contains("TLS") || error.contains("tls"), "{error}");
    if let Some(cert) = server_certificate() {
        let root = cert.display().to_string();
        for mode in ["verify-ca", "require"] {
            let ca = open(&with_params(&format!("sslmode={mode}&sslrootcert={root}")));
            assert!(
                ca.is_ok(),
                "{mode} with the server's certificate as root: {:?}",
                ca.err()
            );
        }
        // A root file that did not sign the server's certificate: `require`
        // then checks the chain too, and fails.
        let other = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(other.path(), OTHER_CA).expect("write");
        let error = open(&with_params(&format!(
            "sslmode=require&sslrootcert={}",
            other.path().display()
        )))
        .err()
        .expect("require with a root file checks the chain");
        assert!(error.contains("TLS") || error.contains("tls"), "{error}");
    } else {
        eprintln!("server certificate not readable here: verify-ca with sslrootcert not exercised");
    }
}

#[test]
#[ignore = "needs PostgreSQL"]
fn concurrent_migrate_runs_apply_each_migration_once() {
    let db = TestDatabase::new(Backend::Postgres);
    let children: Vec<_> = (0..3)
        .map(|_| {
            Command::new(BIN)
                .arg("migrate")
                .env_clear()
                .env("CONDUIT_DATABASE_URL", &db.url)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn migrate")
        })
        .collect();
    let mut applied_lines = 0;
    for child in children {
        let output = child.wait_with_output().expect("migrate finishes");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        applied_lines += stdout.lines().filter(|l| l.starts_with("applied ")).count();
    }
    let known = conduit::store::migrate::POSTGRES.len();
    assert_eq!(
        applied_lines, known,
        "each migration applied by exactly one run"
    );
    let store = open(&db.url).expect("open");
    assert_eq!(
        store.schema_version().unwrap(),
        conduit::store::migrate::latest(conduit::store::migrate::POSTGRES)
    );
}

#[test]
#[ignore = "needs PostgreSQL"]
fn serve_refuses_a_schema_behind_the_binary_and_needs_a_secret() {
    let db = TestDatabase::new(Backend::Postgres);
    let run = |envs: &[(&str, &str)]| {
        let output = Command::new(BIN)
            .arg("serve")
            .env_clear()
            .env("CONDUIT_DATABASE_URL", &db.url)
            .env("CONDUIT_LISTEN", "127.0.0.1:0")
            .envs(envs.iter().copied())
            .output()
            .expect("serve runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stderr) = run(&[("CONDUIT_SECRET", SECRET)]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("run `conduit migrate` first"), "{stderr}");
    let (code, stderr) = run(&[]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("secret: required on PostgreSQL"),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs PostgreSQL"]
fn an_edited_migration_stops_migrate_and_serve_naming_its_file() {
    let db = TestDatabase::new(Backend::Postgres);
    let run = |command: &str| {
        let output = Command::new(BIN)
            .arg(command)
            .env_clear()
            .env("CONDUIT_DATABASE_URL", &db.url)
            .env("CONDUIT_LISTEN", "127.0.0.1:0")
            .env("CONDUIT_SECRET", SECRET)
            .output()
            .expect("conduit runs");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    assert_eq!(run("migrate").0, Some(0));
    let server = postgres_server_url();
    let schema_name = db
        .url
        .rsplit("search_path%3D")
        .next()
        .expect("the test URL names its schema")
        .to_owned();
    run_sql(
        &server,
        &format!(
            "UPDATE {schema_name}.schema_migrations SET checksum = repeat('0', 64) WHERE version = 1"
        ),
    );
    for command in ["migrate", "serve"] {
        let (code, stderr) = run(command);
        assert_eq!(code, Some(1), "{command}: {stderr}");
        assert!(
            stderr.contains("sql/postgres/V1__initial.sql was changed after it was applied"),
            "{command}: {stderr}"
        );
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn an_exhausted_pool_answers_503_after_the_checkout_timeout() {
    let app = spawn_app_with(Backend::Postgres, |c| {
        c.pool_size = Some(1);
        c.pool_timeout_ms = 500;
    })
    .await;
    let jake = app.register("jake").await;
    app.create_article(&jake, "Locked", &[]).await;
    // Another session holds an exclusive lock, so the next list query waits
    // inside the pool's only connection.
    let url = app.db.url.clone();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
        let mut tx = client.transaction().unwrap();
        tx.batch_execute("LOCK TABLE articles IN ACCESS EXCLUSIVE MODE")
            .unwrap();
        locked_tx.send(()).unwrap();
        release_rx.recv_timeout(Duration::from_secs(20)).ok();
        tx.rollback().unwrap();
    });
    locked_rx.recv().unwrap();
    let app = std::sync::Arc::new(app);
    let stuck = {
        let app = app.clone();
        tokio::spawn(async move { app.get("/api/articles", None).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let shed = app.get("/api/tags", None).await;
    shed.assert_error(
        503,
        "temporarily unavailable",
        "second request while the only connection is busy",
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "answered after {:?}",
        started.elapsed()
    );
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    assert_eq!(
        stuck.await.unwrap().status,
        200,
        "the waiting request completes"
    );
    assert_eq!(
        app.get("/api/tags", None).await.status,
        200,
        "pool usable again"
    );
}

/// A PostgreSQL cluster of the test's own, in a temporary folder, on a free
/// port; stopped when dropped.
struct ThrowawayCluster {
    dir: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
}

impl ThrowawayCluster {
    fn create() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries under /usr/lib/postgresql")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|p| p.join("initdb").exists())
            .expect("an initdb binary");
        let dir = tempfile::tempdir().expect("temp dir");
        let port = port_outside_the_ephemeral_range();
        let cluster = ThrowawayCluster { dir, port, bin };
        if as_root() {
            // initdb and postgres refuse to run as root.
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(cluster.dir.path())
                .status()
                .unwrap();
        }
        let data = cluster.data();
        let status = cluster
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D", &data])
            .stdout(Stdio::null())
            .status()
            .expect("initdb runs");
        assert!(status.success(), "initdb failed");
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool).display().to_string();
        if as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--", &path]);
            command
        } else {
            Command::new(path)
        }
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = format!("{}/server.log", self.dir.path().display());
        let status = self
            .command("pg_ctl")
            .args([
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "-t",
                "30",
                "start",
            ])
            .stdout(Stdio::null())
            .status()
            .expect("pg_ctl start");
        assert!(
            status.success(),
            "pg_ctl start failed: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    fn stop(&self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "fast", "-w", "-t", "30", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for ThrowawayCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A free port outside the range the kernel hands out for port-0 listeners
/// and outgoing connections (`ip_local_port_range`), where every other
/// test's ports land: the port stays this cluster's across its stop and
/// start. Read from the kernel, since machines set the range differently.
fn port_outside_the_ephemeral_range() -> u16 {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .unwrap_or_else(|_| "32768 60999".into());
    let mut bounds = range
        .split_whitespace()
        .filter_map(|n| n.parse::<u32>().ok());
    let (low, high) = (
        bounds.next().unwrap_or(32768),
        bounds.next().unwrap_or(60999),
    );
    // Below the range if there is room (above the well-known and the
    // usual service ports), else above it.
    let candidates = if low > 21_000 {
        20_000..low
    } else {
        (high + 1).min(65_535)..65_535
    };
    assert!(
        candidates.len() > 100,
        "no room outside the ephemeral range {low}-{high}"
    );
    (0..1000)
        .map(|_| rand::Rng::gen_range(&mut rand::thread_rng(), candidates.clone()) as u16)
        .find(|&port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok())
        .expect("a free port outside the ephemeral range")
}

fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[test]
#[ignore = "needs PostgreSQL server binaries"]
fn an_unreachable_server_is_retried_then_reported() {
    let cluster = ThrowawayCluster::create();
    let serve = |timeout: &str| {
        Command::new(BIN)
            .arg("serve")
            .env_clear()
            .env("CONDUIT_DATABASE_URL", cluster.url())
            .env("CONDUIT_SECRET", SECRET)
            .env("CONDUIT_LISTEN", "127.0.0.1:0")
            .env("CONDUIT_MIGRATE_ON_START", "true")
            .env("CONDUIT_STARTUP_TIMEOUT_SECS", timeout)
            .env("CONDUIT_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve")
    };

    // Nobody listening: retried for the configured time, then exit 1.
    let started = Instant::now();
    let output = serve("2").wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot connect to PostgreSQL within 2s"),
        "{stderr}"
    );
    assert!(
        stderr.contains("PostgreSQL not reachable yet"),
        "retries are logged: {stderr}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(10),
        "waited {waited:?}"
    );

    // The server appears while conduit retries: it starts normally.
    let mut child = serve("30");
    std::thread::sleep(Duration::from_millis(700));
    cluster.start();
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = lines.any(|l| l.is_ok_and(|l| l.contains("conduit listening")));
    let _ = child.kill();
    let _ = child.wait();
    assert!(listening, "conduit started once PostgreSQL came up");
}

#[tokio::test]
#[ignore = "needs PostgreSQL server binaries"]
async fn a_database_restart_gives_503s_then_recovers_without_a_restart() {
    let cluster = tokio::task::spawn_blocking(|| {
        let cluster = ThrowawayCluster::create();
        cluster.start();
        cluster
    })
    .await
    .unwrap();
    let url = cluster.url();
    // The throwaway cluster replaces the test database the helper made.
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.database_url = conduit::config::Secret::new(url);
        c.pool_timeout_ms = 1_000;
    })
    .await;
    let jake = app.register("jake").await;
    app.create_article(&jake, "Before", &[]).await;

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop();
        cluster
    })
    .await
    .unwrap();
    for attempt in 0..3 {
        let started = Instant::now();
        let resp = app.get("/api/articles", Some(&jake.token)).await;
        resp.assert_error(
            503,
            "temporarily unavailable",
            &format!("request {attempt} while the database is down"),
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "answered within the checkout timeout"
        );
    }

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.start();
        cluster
    })
    .await
    .unwrap();
    let back = Instant::now();
    loop {
        let resp = app.get("/api/articles", Some(&jake.token)).await;
        if resp.status == 200 {
            assert_eq!(
                resp.body["articlesCount"], 1,
                "data kept across the restart"
            );
            break;
        }
        assert_eq!(resp.status, 503, "{:?}", resp.body);
        assert!(
            back.elapsed() < Duration::from_secs(20),
            "no recovery after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("recovered {:?} after PostgreSQL came back", back.elapsed());
    let created = app
        .post(
            "/api/articles",
            Some(&jake.token),
            json!({"article": {"title": "After", "description": "", "body": "b"}}),
        )
        .await;
    assert_eq!(created.status, 201, "writes work again: {:?}", created.body);
    drop(app);
    drop(cluster);
}

#[test]
#[ignore = "needs PostgreSQL"]
fn serve_on_postgres_drains_and_exits_zero_on_sigterm() {
    let db = TestDatabase::new(Backend::Postgres);
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(
        dir.path(),
        &[
            ("CONDUIT_DATABASE_URL", db.url.as_str()),
            ("CONDUIT_SECRET", SECRET),
            ("CONDUIT_MIGRATE_ON_START", "true"),
        ],
    );
    let body = std::process::Command::new("curl")
        .args(["-sf", &server.url("/api/tags")])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&body.stdout), r#"{"tags":[]}"#);
    server.signal("TERM");
    let status = server.wait(Duration::from_secs(10));
    assert!(
        status.success(),
        "closing the pool must not panic: {status:?}"
    );
}

/// The abuse limits hold across replicas: two `conduit serve` processes on
/// one database share the failed-login count of an email.
#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn two_replicas_share_the_failed_login_limit() {
    const LIMIT: usize = 5;
    let db = TestDatabase::new(Backend::Postgres);
    let dir = tempfile::tempdir().unwrap();
    let limit = LIMIT.to_string();
    let envs = [
        ("CONDUIT_DATABASE_URL", db.url.as_str()),
        ("CONDUIT_SECRET", SECRET),
        ("CONDUIT_MIGRATE_ON_START", "true"),
        ("CONDUIT_SCRYPT__LOG_N", "4"),
        ("CONDUIT_LIMITS__LOGIN_FAILURES_PER_EMAIL", limit.as_str()),
    ];
    let replicas = [
        ServerProcess::start(dir.path(), &envs),
        ServerProcess::start(dir.path(), &envs),
    ];
    let client = reqwest::Client::new();
    let registered = client
        .post(replicas[0].url("/api/users"))
        .json(&json!({"user": {"username": "jake", "email": "jake@example.com", "password": "the-right-password"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);

    let guesses: Vec<_> = (0..40)
        .map(|n| {
            let url = replicas[n % 2].url("/api/users/login");
            let client = client.clone();
            tokio::spawn(async move {
                let body = json!({"user": {"email": "jake@example.com", "password": format!("guess-{n}")}});
                let resp = client.post(url).json(&body).send().await.unwrap();
                (n % 2, resp.status().as_u16())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for guess in guesses {
        answers.push(guess.await.unwrap());
    }
    let count = |status| answers.iter().filter(|(_, s)| *s == status).count();
    assert_eq!(
        (count(401), count(429)),
        (LIMIT, 40 - LIMIT),
        "exactly the limit checked across both replicas: {answers:?}"
    );
    for replica in 0..2 {
        assert!(
            answers.contains(&(replica, 429)),
            "replica {replica} refuses too: {answers:?}"
        );
    }
    // The right password waits as well, on either replica.
    for replica in &replicas {
        let right = client
            .post(replica.url("/api/users/login"))
            .json(&json!({"user": {"email": "jake@example.com", "password": "the-right-password"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(right.status(), 429);
        assert!(right.headers().contains_key("retry-after"));
    }
}

/// The ledger itself: counts add up per key, a forgiven attempt leaves,
/// and expired slices are swept.
#[test]
#[ignore = "needs PostgreSQL"]
fn attempt_counts_add_up_forgive_and_expire() {
    let db = TestDatabase::new(Backend::Postgres);
    let store = open(&db.url).expect("open");
    store.migrate().expect("migrate");
    let ledger = store
        .attempt_ledger()
        .expect("PostgreSQL shares its counts");
    let (jake, amy) = ([1u8; 32], [2u8; 32]);
    // Slices of a day, counted over 11: the test stays inside one.
    let day = 86_400_000;
    let first = ledger.count_attempt(&jake, day, 11, 2).unwrap();
    assert!(first.counted);
    assert_eq!(first.slices, vec![], "nothing before it");
    assert_eq!(first.slice, first.now_ms / day);
    let second = ledger.count_attempt(&jake, day, 11, 2).unwrap();
    assert!(second.counted);
    assert_eq!(second.slices, vec![(first.slice, 1)]);
    let third = ledger.count_attempt(&jake, day, 11, 2).unwrap();
    assert!(!third.counted, "the limit of 2 is reached");
    assert_eq!(
        third.slices,
        vec![(first.slice, 2)],
        "a refusal adds nothing"
    );
    let other = ledger.count_attempt(&amy, day, 11, 2).unwrap();
    assert_eq!((other.counted, other.slices), (true, vec![]), "keys apart");
    ledger.forgive_attempt(&jake, first.slice).unwrap();
    let again = ledger.count_attempt(&jake, day, 11, 2).unwrap();
    assert!(again.counted, "one was taken back");
    assert_eq!(again.slices, vec![(first.slice, 1)]);

    assert_eq!(ledger.sweep_attempts().unwrap(), 0, "nothing expired yet");
    // Slices of 1 ms counted over 2: expired a few milliseconds later.
    ledger.count_attempt(&amy, 1, 2, 1).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(ledger.sweep_attempts().unwrap(), 1, "only the short one");
}

impl ThrowawayCluster {
    /// A streaming replica of `primary` (which must be running), as a base
    /// backup that follows it; started on a port of its own.
    fn replica_of(primary: &ThrowawayCluster) -> ThrowawayCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let replica = ThrowawayCluster {
            dir,
            port: port_outside_the_ephemeral_range(),
            bin: primary.bin.clone(),
        };
        if as_root() {
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(replica.dir.path())
                .status()
                .unwrap();
        }
        // initdb's trust rules allow replication from 127.0.0.1, and
        // PostgreSQL 15 logs enough for a replica by default.
        let status = replica
            .command("pg_basebackup")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-R", "--no-sync"])
            .args(["-p", &primary.port.to_string(), "-D", &replica.data()])
            .stdout(Stdio::null())
            .status()
            .expect("pg_basebackup runs");
        assert!(status.success(), "pg_basebackup failed");
        replica.start();
        replica
    }
}

/// How many reads that could use the replica ran where (`outcome`), from
/// the server's own metrics.
async fn replica_reads(server: &ServerProcess, outcome: &str) -> u64 {
    let sample = format!("conduit_replica_reads_total{{outcome=\"{outcome}\"}}");
    server.metric(&sample).await as u64
}

/// Reads from a real streaming replica: a write through one server is seen
/// at once through another that reads from the replica, when the client
/// sends back the position it was given, even while the replica is paused;
/// with the replica stopped, reads go to the primary without an error, and
/// they come back to it once it is up.
#[tokio::test]
#[ignore = "needs PostgreSQL server binaries"]
async fn reads_from_a_replica_see_the_readers_own_writes_and_survive_its_loss() {
    let (primary, replica) = tokio::task::spawn_blocking(|| {
        let primary = ThrowawayCluster::create();
        primary.start();
        let replica = ThrowawayCluster::replica_of(&primary);
        (primary, replica)
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let common = [
        ("CONDUIT_SECRET", SECRET),
        ("CONDUIT_MIGRATE_ON_START", "true"),
    ];
    // Two servers on the same primary and replica, as two pods. The
    // replica's URL names no user: it is the primary's.
    let primary_url = primary.url();
    let replica_url = format!(
        "postgres://127.0.0.1:{}/postgres?sslmode=disable",
        replica.port
    );
    let mut env = common.to_vec();
    env.push(("CONDUIT_DATABASE_URL", &primary_url));
    env.push(("CONDUIT_DATABASE_READ_URL", &replica_url));
    let writer = ServerProcess::start(dir.path(), &env);
    let reader = ServerProcess::start(dir.path(), &env);
    let client = reqwest::Client::new();

    let token = client
        .post(writer.url("/api/users"))
        .json(&json!({"user": {"username": "jake", "email": "jake@example.com", "password": "password-of-jake"}}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["user"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Writes carry the position, as a header and as a cookie for browsers.
    let first = client
        .post(writer.url("/api/articles"))
        .header("Authorization", format!("Token {token}"))
        .json(&json!({"article": {"title": "First", "description": "d", "body": "b"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 201);
    let position = first.headers()["conduit-written"]
        .to_str()
        .unwrap()
        .to_owned();
    let cookie = first.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with(&format!("conduit_written={position}; ")) && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let on_replica = replica_reads(&reader, "replica").await;
    let seen = client
        .get(reader.url("/api/articles/first"))
        .header("conduit-written", &position)
        .send()
        .await
        .unwrap();
    assert_eq!(
        seen.status(),
        200,
        "a write is seen at once through another server"
    );
    assert_eq!(
        replica_reads(&reader, "replica").await,
        on_replica + 1,
        "and that read ran on the replica"
    );

    // The replica stops replaying: a write is not on it, yet a reader that
    // sends its position sees it, from the primary, after waiting its
    // bounded while.
    let sql = |url: String, statement: &'static str| {
        tokio::task::spawn_blocking(move || run_sql(&url, statement))
    };
    sql(replica.url(), "SELECT pg_wal_replay_pause()")
        .await
        .unwrap();
    let second = client
        .post(writer.url("/api/articles"))
        .header("Authorization", format!("Token {token}"))
        .json(&json!({"article": {"title": "Second", "description": "d", "body": "b"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 201);
    let position = second.headers()["conduit-written"]
        .to_str()
        .unwrap()
        .to_owned();
    let list = |position: Option<String>| {
        let request = client.get(reader.url("/api/articles"));
        let request = match position {
            Some(position) => request.header("conduit-written", position),
            None => request,
        };
        async move {
            let body: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
            body["articlesCount"].as_i64().unwrap()
        }
    };
    let lagging = replica_reads(&reader, "lagging").await;
    assert_eq!(
        list(Some(position.clone())).await,
        2,
        "the reader's own writes"
    );
    assert_eq!(
        replica_reads(&reader, "lagging").await,
        lagging + 1,
        "served by the primary because the replica lagged"
    );
    assert_eq!(
        list(None).await,
        1,
        "without a position, the paused replica answers (so the test shows where reads go)"
    );

    // Replaying again: the same read is served by the replica.
    sql(replica.url(), "SELECT pg_wal_replay_resume()")
        .await
        .unwrap();
    let on_replica = replica_reads(&reader, "replica").await;
    assert_eq!(list(Some(position.clone())).await, 2);
    assert!(replica_reads(&reader, "replica").await > on_replica);

    // The replica stops: reads go to the primary, never an error.
    let replica = tokio::task::spawn_blocking(move || {
        replica.stop();
        replica
    })
    .await
    .unwrap();
    for _ in 0..5 {
        assert_eq!(list(Some(position.clone())).await, 2);
        assert_eq!(list(None).await, 2);
    }
    let article = client
        .get(reader.url("/api/articles/second"))
        .send()
        .await
        .unwrap();
    assert_eq!(article.status(), 200);
    assert!(replica_reads(&reader, "unavailable").await >= 1);

    // Back up: after its rest, reads return to the replica.
    let replica = tokio::task::spawn_blocking(move || {
        replica.start();
        replica
    })
    .await
    .unwrap();
    let on_replica = replica_reads(&reader, "replica").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert_eq!(list(None).await, 2);
        if replica_reads(&reader, "replica").await > on_replica {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "reads never returned to the replica"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop((primary, replica));
}
