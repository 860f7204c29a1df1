//! Logs, metrics and traces.
//!
//! Logging goes through `tracing`: human-readable lines by default, JSON
//! for log collectors, on standard error, so `conduit config` and
//! `conduit migrate` keep standard output for their results. The access
//! log (`access.rs`) has its own writer thread. Traces (`traces/`) are the
//! same `tracing` spans, exported with OpenTelemetry when configured.

pub mod access;
pub mod exemplars;
pub mod metrics;
pub mod request_tag;
pub mod traces;

use serde::{Deserialize, Serialize};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use request_tag::WithRequest;
use traces::{InTracedRequest, Traces, TracingConfig};

/// How log lines look (the `log_format` setting).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For people.
    Text,
    /// For log collectors.
    Json,
}

/// Checks a `log_level` filter such as `info` or `conduit=debug,warn`.
pub fn check_level(level: &str) -> Result<(), String> {
    EnvFilter::try_new(level)
        .map(drop)
        .map_err(|_| format!("log_level: invalid filter {level:?}"))
}

/// Libraries whose debug and trace events carry request data (headers,
/// query parameters): capped at `info` whatever the configured level, so a
/// password, token or email never reaches a log.
const CAPPED: &[&str] = &[
    "hyper",
    "hyper_util",
    "h2",
    "tokio_postgres",
    "postgres",
    "rustls",
    "warp",
];

/// What [`init`] started; [`Telemetry::shutdown`] exports the last spans.
pub struct Telemetry {
    traces: Option<Traces>,
}

impl Telemetry {
    pub fn shutdown(self) {
        access::flush();
        if let Some(traces) = self.traces {
            traces.shutdown();
        }
    }
}

/// Installs the global subscriber, the access log and, when `tracing` has
/// an endpoint, the trace exporter. A second call (tests) installs nothing.
pub fn init(level: &str, format: LogFormat, tracing: &TracingConfig) -> Result<Telemetry, String> {
    let mut filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    for target in CAPPED {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    // A traced request's span is for the exporter; log lines name their
    // request through its tag (request_tag.rs).
    if let Ok(directive) = format!("{}=off", traces::TRACED_TARGET).parse() {
        filter = filter.add_directive(directive);
    }
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let logs: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Text => logs
            .event_format(WithRequest {
                inner: tracing_subscriber::fmt::format(),
                json: false,
            })
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => logs
            .json()
            .event_format(WithRequest {
                inner: tracing_subscriber::fmt::format().json().flatten_event(true),
                json: true,
            })
            .with_filter(filter)
            .boxed(),
    };
    let (traces, tracer) = match tracing.enabled() {
        true => {
            let (traces, tracer) = Traces::start(tracing)?;
            (Some(traces), Some(tracer))
        }
        false => (None, None),
    };
    // Two subscribers rather than an optional layer: a layer that is
    // `None` declares every callsite enabled, so every span would be built
    // (and the log level would no longer tell whether requests are logged).
    let logs = tracing_subscriber::registry().with(logs);
    let installed = match tracer {
        Some(tracer) => logs
            .with(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_location(false)
                    .with_threads(false)
                    .with_level(false)
                    .with_target(false)
                    .with_tracked_inactivity(false)
                    .with_filter(InTracedRequest),
            )
            .try_init(),
        None => logs.try_init(),
    };
    if installed.is_ok() && tracing::enabled!(target: "conduit::http", tracing::Level::INFO) {
        access::start(format);
    }
    Ok(Telemetry { traces })
}
