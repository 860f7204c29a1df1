//! The `conduit` binary itself: subcommands, exit codes, one-line reasons.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_conduit");
const SECRET: &str = "a-test-secret-of-at-least-thirty-two-bytes";

/// The binary with a clean environment, run in `dir`. It listens on a port
/// of its own (port 0) unless a test says otherwise: `conduit serve` may be
/// running on the default address while the tests run.
fn conduit(dir: &std::path::Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .current_dir(dir)
        .env("CONDUIT_SCRYPT__LOG_N", "4")
        .env("CONDUIT_LISTEN", "127.0.0.1:0");
    command
}

fn run(command: &mut Command) -> (Output, String, String) {
    let output = command.output().expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

#[test]
fn version_names_the_release_and_revision() {
    let dir = tempfile::tempdir().unwrap();
    let (output, stdout, _) = run(conduit(dir.path()).arg("--version"));
    assert!(output.status.success());
    assert!(
        stdout.starts_with(&format!("conduit {} (", env!("CARGO_PKG_VERSION"))),
        "{stdout}"
    );
}

#[test]
fn migrate_applies_pending_migrations_once() {
    let dir = tempfile::tempdir().unwrap();
    let (output, stdout, stderr) = run(conduit(dir.path()).arg("migrate"));
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("applied V1__initial"), "{stdout}");
    assert!(
        dir.path().join("conduit.db").exists(),
        "default sqlite://conduit.db is relative to the working directory"
    );
    let (output, stdout, _) = run(conduit(dir.path()).arg("migrate"));
    assert!(output.status.success());
    assert_eq!(stdout.trim(), "schema is up to date");
}

/// Rewrites the recorded checksum of `version`, as if the file had been
/// edited after it was applied.
fn pretend_edited(db: &std::path::Path, version: i64) {
    rusqlite::Connection::open(db)
        .unwrap()
        .execute(
            "UPDATE schema_migrations SET checksum = ?1 WHERE version = ?2",
            rusqlite::params!["0".repeat(64), version],
        )
        .unwrap();
}

#[test]
fn an_edited_migration_stops_migrate_and_serve_naming_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let (output, _, stderr) = run(conduit(dir.path()).arg("migrate"));
    assert!(output.status.success(), "{stderr}");
    pretend_edited(&dir.path().join("conduit.db"), 2);
    let serve = |command: &mut Command| {
        command.arg("serve").env("CONDUIT_SECRET", SECRET);
    };
    for args in ["migrate", "serve"] {
        let mut command = conduit(dir.path());
        if args == "serve" {
            serve(&mut command);
        } else {
            command.arg(args);
        }
        let (output, _, stderr) = run(&mut command);
        assert_eq!(output.status.code(), Some(1), "{args}: {stderr}");
        assert!(
            stderr.contains("sql/sqlite/V2__read_models.sql was changed after it was applied"),
            "{args}: {stderr}"
        );
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "{args}: one line: {stderr}"
        );
    }
}

#[test]
fn a_history_recorded_before_checksums_gets_them_from_migrate() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("conduit.db");
    let (output, _, stderr) = run(conduit(dir.path()).arg("migrate"));
    assert!(output.status.success(), "{stderr}");
    // A database migrated by a release from before checksums.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("ALTER TABLE schema_migrations DROP COLUMN checksum")
        .unwrap();
    let (output, stdout, stderr) = run(conduit(dir.path()).arg("migrate"));
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stdout.trim(), "schema is up to date");
    let unchecked: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM schema_migrations WHERE checksum IS NULL OR length(checksum) <> 64",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unchecked, 0, "every applied migration has its checksum now");
    // From now on an edit is noticed.
    pretend_edited(&db, 1);
    let (output, _, stderr) = run(conduit(dir.path()).arg("migrate"));
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("sql/sqlite/V1__initial.sql"), "{stderr}");
}

#[test]
fn config_prints_effective_settings_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("conduit.toml"), "pool_size = 3\n").unwrap();
    let (output, stdout, stderr) = run(conduit(dir.path())
        .arg("config")
        .env("CONDUIT_SECRET", SECRET)
        .env("CONDUIT_LISTEN", "0.0.0.0:9999")
        .env("CONDUIT_TEST_ANYTHING", "ignored"));
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("listen = \"0.0.0.0:9999\""),
        "env layer: {stdout}"
    );
    assert!(stdout.contains("pool_size = 3"), "file layer: {stdout}");
    assert!(stdout.contains("secret = \"<redacted>\""), "{stdout}");
    assert!(!stdout.contains(SECRET), "secret printed: {stdout}");
}

#[test]
fn startup_errors_exit_nonzero_with_one_line_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    std::fs::write(dir.path().join("bad.toml"), "pool_size = \"many\"\n").unwrap();
    /// What is wrong, the environment, the arguments, what the reason names.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<&'a str>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "short secret",
            vec![("CONDUIT_SECRET", "short")],
            vec!["serve"],
            "secret",
        ),
        (
            "bad listen address",
            vec![("CONDUIT_LISTEN", "nowhere")],
            vec!["serve"],
            "listen",
        ),
        (
            "unknown scheme",
            vec![("CONDUIT_DATABASE_URL", "mysql://x")],
            vec!["serve"],
            "database_url",
        ),
        (
            "bad type in file",
            vec![],
            vec!["--config", "bad.toml", "serve"],
            "pool_size",
        ),
        (
            "missing named file",
            vec![("CONDUIT_CONFIG", "absent.toml")],
            vec!["serve"],
            "absent.toml",
        ),
        (
            "port taken",
            vec![("CONDUIT_LISTEN", taken_addr.as_str())],
            vec!["serve"],
            "cannot listen",
        ),
        (
            "mistyped variable",
            vec![("CONDUIT_POOLSIZE", "3")],
            vec!["serve"],
            "CONDUIT_POOLSIZE is not a setting; did you mean CONDUIT_POOL_SIZE",
        ),
        (
            "unopenable database",
            vec![("CONDUIT_DATABASE_URL", "sqlite:///no/such/dir/x.db")],
            vec!["serve"],
            "cannot open SQLite database",
        ),
    ];
    for (context, env, args, needle) in cases {
        let mut command = conduit(dir.path());
        command.args(&args).envs(env);
        let (output, _, stderr) = run(&mut command);
        assert_eq!(output.status.code(), Some(1), "{context}: {stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("conduit: ") && last.contains(needle),
            "{context}: {stderr}"
        );
    }
}

#[test]
fn serve_answers_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = conduit(dir.path())
        .arg("serve")
        .env("CONDUIT_LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("server logs until it listens").unwrap();
        let entry: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
        if entry["message"] == "conduit listening" {
            let addr = entry["addr"].as_str().unwrap().to_owned();
            assert_eq!(
                entry["open"],
                format!("http://{addr}/"),
                "the address to open"
            );
            break addr;
        }
    };
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    use std::io::{Read, Write};
    write!(
        stream,
        "GET /api/tags HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with(r#"{"tags":[]}"#), "{response}");
    eprintln!("first answer after {:?} from spawn", started.elapsed());

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "server did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "exit status {exit:?}");
}
