//! Which `tracing` spans the OpenTelemetry layer sees: a traced request's
//! span (its own target, [`TRACED_TARGET`]) and the spans opened under it.
//! Everything else, the spans of unsampled requests included, is disabled
//! for that layer before it allocates anything.

use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::registry::LookupSpan;

/// The target of a traced request's span.
pub const TRACED_TARGET: &str = "conduit::trace";

pub struct InTracedRequest;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Filter<S> for InTracedRequest {
    fn enabled(&self, meta: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        if meta.target() == TRACED_TARGET {
            return meta.is_span();
        }
        // Warnings and errors inside a traced request become span events.
        (meta.is_span() || *meta.level() <= tracing::Level::WARN) && cx.lookup_current().is_some()
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if meta.is_event() && *meta.level() > tracing::Level::WARN {
            Interest::never()
        } else {
            Interest::sometimes()
        }
    }
}
