//! Prometheus metrics, registered once per process.
//!
//! Routes are labelled by template (`/api/articles/:slug`), never by raw
//! path, so the number of series stays bounded whatever clients send.

use std::sync::LazyLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets from 0.5 ms to 10 s: most requests here take well under
/// a millisecond; logins take ~100 ms by design.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub request_duration: HistogramVec,
    pub in_flight: IntGauge,
    pub shed: IntCounter,
    pub pool_connections: IntGaugeVec,
    pub pool_max: IntGauge,
    pub pool_wait: Histogram,
    pub db_unavailable: IntCounter,
    /// Reads that could use the read replica, by where they ran.
    pub replica_reads: IntCounterVec,
    pub hash_queue_depth: IntGauge,
    pub hash_wait: Histogram,
    pub hash_rejected: IntCounter,
    /// Spans by what became of them: exported, failed (the collector
    /// refused or did not answer) or dropped (the queue was full).
    pub trace_spans: IntCounterVec,
    /// Access log lines dropped because the log writer fell behind.
    pub log_lines_dropped: IntCounter,
}

/// The process-wide metrics. Built when `App::build` forces it, so the
/// `expect`s of their construction (fixed names and label sets) can only
/// fire at start-up, for a programming error, never on a request.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: T) -> T {
    registry
        .register(Box::new(metric.clone()))
        .expect("each metric is registered once, under a unique name");
    metric
}

impl Metrics {
    fn new() -> Metrics {
        let registry = Registry::new();
        let histogram = |name: &str, help: &str| {
            HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec())
        };
        let metrics = Metrics {
            requests: register(
                &registry,
                IntCounterVec::new(
                    Opts::new("conduit_http_requests_total", "HTTP requests answered"),
                    &["method", "route", "status"],
                )
                .expect("valid metric"),
            ),
            request_duration: register(
                &registry,
                HistogramVec::new(
                    histogram(
                        "conduit_http_request_duration_seconds",
                        "Time to answer a request",
                    ),
                    &["method", "route"],
                )
                .expect("valid metric"),
            ),
            in_flight: register(
                &registry,
                IntGauge::new("conduit_http_requests_in_flight", "Requests being handled")
                    .expect("valid metric"),
            ),
            shed: register(
                &registry,
                IntCounter::new(
                    "conduit_http_requests_shed_total",
                    "Requests or connections refused with 503 because of overload",
                )
                .expect("valid metric"),
            ),
            pool_connections: register(
                &registry,
                IntGaugeVec::new(
                    Opts::new(
                        "conduit_db_pool_connections",
                        "Open database connections by state",
                    ),
                    &["state"],
                )
                .expect("valid metric"),
            ),
            pool_max: register(
                &registry,
                IntGauge::new(
                    "conduit_db_pool_max_connections",
                    "Database pool size limit",
                )
                .expect("valid metric"),
            ),
            pool_wait: register(
                &registry,
                Histogram::with_opts(histogram(
                    "conduit_db_pool_wait_seconds",
                    "Time spent waiting for a pooled database connection",
                ))
                .expect("valid metric"),
            ),
            db_unavailable: register(
                &registry,
                IntCounter::new(
                    "conduit_db_unavailable_total",
                    "Requests answered 503 because the database could not be reached",
                )
                .expect("valid metric"),
            ),
            replica_reads: register(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "conduit_replica_reads_total",
                        "Reads that could run on the read replica: on it (replica), or on \
                         the primary because it lagged behind the reader's last write \
                         (lagging), failed (unavailable) or did not find a row (not_found)",
                    ),
                    &["outcome"],
                )
                .expect("valid metric"),
            ),
            hash_queue_depth: register(
                &registry,
                IntGauge::new(
                    "conduit_password_hash_queue_depth",
                    "Logins and registrations waiting for a password-hash slot",
                )
                .expect("valid metric"),
            ),
            hash_wait: register(
                &registry,
                Histogram::with_opts(histogram(
                    "conduit_password_hash_wait_seconds",
                    "Time spent waiting for a password-hash slot",
                ))
                .expect("valid metric"),
            ),
            hash_rejected: register(
                &registry,
                IntCounter::new(
                    "conduit_password_hash_rejected_total",
                    "Logins and registrations refused because the hash queue was full",
                )
                .expect("valid metric"),
            ),
            trace_spans: register(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "conduit_trace_spans_total",
                        "Trace spans by outcome: exported, failed (the collector refused them \
                         or did not answer in time) or dropped (the export queue was full)",
                    ),
                    &["outcome"],
                )
                .expect("valid metric"),
            ),
            log_lines_dropped: register(
                &registry,
                IntCounter::new(
                    "conduit_log_lines_dropped_total",
                    "Access log lines dropped because the log writer fell behind",
                )
                .expect("valid metric"),
            ),
            registry,
        };
        let build = IntGaugeVec::new(
            Opts::new(
                "conduit_build_info",
                "Version and git revision of this binary",
            ),
            &["version", "revision"],
        )
        .expect("valid metric");
        build
            .with_label_values(&[env!("CARGO_PKG_VERSION"), env!("CONDUIT_GIT_REVISION")])
            .set(1);
        register(&metrics.registry, build);
        metrics
    }

    /// Records one answered request.
    pub fn observe_request(&self, method: &str, route: &str, status: &str, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, status])
            .inc();
        self.request_duration
            .with_label_values(&[method, route])
            .observe(seconds);
    }

    /// The text exposition format. The encoder refuses malformed metric
    /// families; that is an error for the scrape, never a panic.
    pub fn render(&self) -> Result<String, String> {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .map_err(|e| format!("cannot encode metrics: {e}"))?;
        String::from_utf8(buffer).map_err(|e| format!("metrics are not UTF-8: {e}"))
    }
}
