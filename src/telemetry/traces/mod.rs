//! Distributed traces, exported with OpenTelemetry (OTLP over HTTP,
//! protobuf) when an endpoint is configured; off otherwise.
//!
//! - `context.rs`: W3C `traceparent` in, and the sampling decision.
//! - `filter.rs`: which `tracing` spans become OpenTelemetry spans: a
//!   sampled request's span and everything under it, nothing else, so an
//!   unsampled request pays nothing for its child spans.
//! - `export.rs`: the bounded queue and the exporter's own thread; spans
//!   the queue cannot take are dropped and counted, never waited for.
//! - `client.rs`: the HTTP(S) client the exporter posts with.
//!
//! Span names follow OpenTelemetry's semantic conventions: the server span
//! is `{method} {route template}`; its children are `pool.wait`,
//! `store {operation}`, one per SQL statement (`SELECT articles`: the
//! operation and the main table, never the parameters), `password.hash`,
//! `render {template}` and `compress`.

mod client;
mod context;
mod export;
mod filter;

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use serde::{Deserialize, Serialize};

pub use context::{RequestTrace, TraceId};
pub use filter::{InTracedRequest, TRACED_TARGET};

/// The `tracing.*` settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TracingConfig {
    /// Where the OpenTelemetry collector takes OTLP over HTTP, e.g.
    /// `http://otel-collector:4318`; spans are posted to `/v1/traces` under
    /// it. Empty: no traces (`OTEL_EXPORTER_OTLP_ENDPOINT` sets it too).
    pub endpoint: String,
    /// Share of requests traced when the caller did not decide (no
    /// `traceparent`); a `traceparent`'s own sampled flag is followed.
    pub sample_ratio: f64,
    /// The `service.name` of every span (`OTEL_SERVICE_NAME` sets it too).
    pub service_name: String,
    /// Spans waiting for export at most; more are dropped and counted.
    pub queue_spans: usize,
    /// How long one export may take before it counts as failed.
    pub export_timeout_ms: u64,
}

impl Default for TracingConfig {
    fn default() -> Self {
        TracingConfig {
            endpoint: String::new(),
            sample_ratio: 1.0,
            service_name: "conduit".into(),
            queue_spans: 4096,
            export_timeout_ms: 5000,
        }
    }
}

impl TracingConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err("tracing.sample_ratio: must be between 0 and 1".into());
        }
        if !self.endpoint.is_empty() {
            client::Target::parse(&self.traces_url())
                .map_err(|e| format!("tracing.endpoint: {e}"))?;
        }
        if self.service_name.trim().is_empty() {
            return Err("tracing.service_name: must not be empty".into());
        }
        if self.queue_spans == 0 {
            return Err("tracing.queue_spans: must be at least 1".into());
        }
        Ok(())
    }

    pub fn enabled(&self) -> bool {
        !self.endpoint.is_empty()
    }

    /// The OTLP/HTTP traces URL under the endpoint.
    fn traces_url(&self) -> String {
        format!("{}/v1/traces", self.endpoint.trim_end_matches('/'))
    }
}

/// The sampling ratio, once tracing has started; `None` while it is off.
static SAMPLE_RATIO: OnceLock<f64> = OnceLock::new();

/// Whether this process exports traces.
pub fn enabled() -> bool {
    SAMPLE_RATIO.get().is_some()
}

/// A running exporter: [`Traces::shutdown`] sends what is queued.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Starts the exporter thread and returns the tracer for the
    /// `tracing-opentelemetry` layer. Only the first call in a process
    /// takes effect (tests start many servers in one process).
    pub fn start(
        config: &TracingConfig,
    ) -> Result<(Traces, opentelemetry_sdk::trace::Tracer), String> {
        let timeout = Duration::from_millis(config.export_timeout_ms);
        let http = client::OtlpHttp::new(&config.traces_url(), timeout)?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(http)
            .with_endpoint(config.traces_url())
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_timeout(timeout)
            .build()
            .map_err(|e| format!("tracing: cannot build the exporter: {e}"))?;
        let resource = Resource::builder_empty()
            .with_service_name(config.service_name.clone())
            .with_attribute(opentelemetry::KeyValue::new(
                "service.version",
                env!("CARGO_PKG_VERSION"),
            ))
            .build();
        // Sampling is decided before the request's span exists
        // (context.rs); a span that exists is sampled.
        let provider = SdkTracerProvider::builder()
            .with_span_processor(export::QueueProcessor::start(
                exporter,
                &resource,
                config.queue_spans,
            )?)
            .with_sampler(Sampler::AlwaysOn)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("conduit");
        let _ = SAMPLE_RATIO.set(config.sample_ratio);
        Ok((Traces { provider }, tracer))
    }

    /// Exports the spans still queued (bounded by the export timeout).
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "tracing: the last spans were not all exported");
        }
    }
}
