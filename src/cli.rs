//! The command line: `conduit serve | migrate | config`. Every startup
//! failure ends with a one-line reason on standard error and exit code 1.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::{self, App};
use crate::config::{Config, ConfigFile};
use crate::{store, telemetry};

/// The version and the git revision it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("CONDUIT_GIT_REVISION"),
    ")"
);

#[derive(Parser)]
#[command(name = "conduit", version = VERSION, about = "The RealWorld blogging API on SQLite or PostgreSQL")]
struct Cli {
    /// Configuration file (default: ./conduit.toml if present; also CONDUIT_CONFIG).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (migrates a SQLite database first).
    Serve,
    /// Apply pending database migrations, print them, and exit.
    Migrate,
    /// Print the effective configuration, secrets redacted.
    Config,
    /// Probe the local server's /healthz: exit 0 when it answers 200 (for
    /// container HEALTHCHECKs; the image has no shell or curl).
    Healthcheck,
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("conduit: {reason}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> Result<(), String> {
    let config = Config::load(ConfigFile::choose(cli.config))?;
    match cli.command {
        Command::Config => {
            print!("{}", config.redacted_toml());
            Ok(())
        }
        Command::Migrate => {
            let off = telemetry::traces::TracingConfig::default();
            telemetry::init(&config.log_level, config.log_format, &off)?;
            migrate(&config)
        }
        Command::Serve => {
            let telemetry = telemetry::init(&config.log_level, config.log_format, &config.tracing)?;
            let served = serve(config);
            telemetry.shutdown();
            served
        }
        Command::Healthcheck => healthcheck(&config),
    }
}

fn healthcheck(config: &Config) -> Result<(), String> {
    use std::io::{Read, Write};
    let mut addr = config.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let timeout = std::time::Duration::from_secs(2);
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("healthcheck: cannot connect to {addr}: {e}"))?;
    let _ = stream.set_read_timeout(Some(timeout));
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("healthcheck: {e}"))?;
    let mut head = [0u8; 12];
    stream
        .read_exact(&mut head)
        .map_err(|e| format!("healthcheck: no answer: {e}"))?;
    if &head == b"HTTP/1.1 200" {
        Ok(())
    } else {
        Err(format!(
            "healthcheck: answered {}",
            String::from_utf8_lossy(&head)
        ))
    }
}

fn migrate(config: &Config) -> Result<(), String> {
    let options = store::PoolOptions {
        pool_size: 1,
        ..config.pool_options()
    };
    let store = store::open(&config.database(), &options)?;
    let applied = store
        .migrate()
        .map_err(|e| format!("migration failed: {}", e.report()))?;
    if applied.is_empty() {
        println!("schema is up to date");
    }
    for m in applied {
        println!("applied V{}__{}", m.version, m.name);
    }
    Ok(())
}

fn serve(config: Config) -> Result<(), String> {
    // Store calls run on the blocking pool and each holds a database
    // connection, so more blocking threads than connections only wait on the
    // pool, each keeping a stack and an allocator cache: cap them.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(config.effective_pool_size() as usize + 2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let listener = app::bind(config.listen).await?;
        let metrics = match config.metrics_listen {
            Some(addr) => Some(app::bind(addr).await?),
            None => None,
        };
        let app = App::build(&config).await?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let metrics_addr = metrics.as_ref().and_then(|l| l.local_addr().ok());
        // The address to open in a browser: the web app at its root (a
        // wildcard bind is reachable on loopback).
        let mut local = addr;
        if local.ip().is_unspecified() {
            local.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let open = format!("http://{local}/");
        tracing::info!(%addr, %open, metrics = ?metrics_addr, version = VERSION, database = ?config.database(), "conduit listening");
        let shutdown = async {
            app::shutdown_signal().await;
            // A second signal means "now": skip the drain.
            tokio::spawn(async {
                app::shutdown_signal().await;
                eprintln!("conduit: second signal, exiting without draining");
                std::process::exit(1);
            });
        };
        let drained = app.serve(listener, metrics, shutdown).await;
        tracing::info!(drained, "stopped");
        Ok(())
    })
}
