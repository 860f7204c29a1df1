//! The trace a request belongs to: continued from a W3C `traceparent`
//! (and `tracestate`) when the caller sent one, sampled here otherwise.

use std::fmt;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use warp::http::HeaderMap;

/// A trace's id, as logs print it: 32 lowercase hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceId(pub [u8; 16]);

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// The span a request runs in, and the id of its trace when it has one.
pub struct RequestTrace {
    /// The request's span: what its log lines carry, and the parent of
    /// every span it makes; exported only when `traced`.
    pub span: tracing::Span,
    /// The trace: this request's when traced, else the caller's when it
    /// sent a `traceparent`, else none.
    pub trace_id: Option<TraceId>,
    pub traced: bool,
}

impl RequestTrace {
    /// Opens the span for a request with these headers; `route` is the
    /// template (`/api/articles/:slug`), never the raw path.
    pub fn begin(
        headers: &HeaderMap,
        method: &'static str,
        route: &'static str,
        request_id: &str,
    ) -> RequestTrace {
        let parent = headers
            .contains_key("traceparent")
            .then(|| TraceContextPropagator::new().extract(&HeaderExtractor(headers)))
            .filter(|cx| cx.span().span_context().is_valid());
        let parent_sampled = parent
            .as_ref()
            .map(|cx| cx.span().span_context().is_sampled());
        let traced = match (super::SAMPLE_RATIO.get(), parent_sampled) {
            (None, _) => false,
            (Some(_), Some(sampled)) => sampled,
            (Some(&ratio), None) => ratio >= 1.0 || rand::random::<f64>() < ratio,
        };
        if !traced {
            let trace_id = parent
                .as_ref()
                .map(|cx| TraceId(cx.span().span_context().trace_id().to_bytes()));
            // Its log lines name it by its tag (telemetry::request_tag):
            // no span to build.
            let span = tracing::Span::none();
            return RequestTrace {
                span,
                trace_id,
                traced: false,
            };
        }
        let span = tracing::info_span!(
            target: super::filter::TRACED_TARGET,
            "request",
            request_id,
            otel.name = %format_args!("{method} {route}"),
            otel.kind = "server",
            otel.status_code = Empty,
            http.request.method = method,
            http.route = route,
            http.response.status_code = Empty,
            network.protocol.version = "1.1",
            url.scheme = "http",
        );
        if let Some(parent) = parent {
            let _ = span.set_parent(parent);
        }
        let id = span.context().span().span_context().trace_id();
        let trace_id =
            (id != opentelemetry::trace::TraceId::INVALID).then(|| TraceId(id.to_bytes()));
        RequestTrace {
            span,
            trace_id,
            traced: true,
        }
    }

    /// Records the answer's status on the span (a 5xx marks it failed;
    /// a 4xx is the client's, not the server's, error).
    pub fn finish(&self, status: u16) {
        if self.traced {
            // The exporter ends a span at its last exit: entering it here
            // makes the server span cover the whole answer (CORS,
            // revalidation, the drain of an unread body), as the latency
            // histogram does.
            drop(self.span.enter());
            self.span.record("http.response.status_code", status);
            if status >= 500 {
                self.span.record("otel.status_code", "error");
            }
        }
    }
}
