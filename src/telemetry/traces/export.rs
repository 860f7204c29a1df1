//! Spans go from the request's thread into a bounded queue, and from there,
//! in batches, to the collector on the exporter's own thread. A request
//! never waits for the collector: when the queue is full (the collector is
//! slow or gone), the span is dropped and counted in
//! `conduit_trace_spans_total{outcome="dropped"}`.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use opentelemetry_sdk::Resource;

use crate::telemetry::metrics::METRICS;

/// Spans sent in one export at most.
const BATCH: usize = 512;

/// How long a span may wait for its batch to fill.
const LINGER: Duration = Duration::from_millis(200);

enum Message {
    Span(Box<SpanData>),
    /// Export what is queued, then answer.
    Flush(mpsc::Sender<()>),
}

/// The exporter's thread is detached: it ends when the queue closes, and a
/// stuck export must not hold up the process's exit.
pub struct QueueProcessor {
    queue: SyncSender<Message>,
}

impl std::fmt::Debug for QueueProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueueProcessor")
    }
}

impl QueueProcessor {
    /// Starts the exporter's thread with a queue of `capacity` spans.
    pub fn start<E: SpanExporter + 'static>(
        mut exporter: E,
        resource: &Resource,
        capacity: usize,
    ) -> Result<QueueProcessor, String> {
        exporter.set_resource(resource);
        let (queue, spans) = mpsc::sync_channel(capacity);
        std::thread::Builder::new()
            .name("conduit-traces".into())
            .spawn(move || run(exporter, spans))
            .map_err(|e| format!("tracing: cannot start the exporter thread: {e}"))?;
        Ok(QueueProcessor { queue })
    }
}

impl SpanProcessor for QueueProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        match self.queue.try_send(Message::Span(Box::new(span))) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                METRICS.trace_spans.with_label_values(&["dropped"]).inc();
            }
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.flush(Duration::from_secs(30))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.flush(timeout)
    }
}

impl QueueProcessor {
    /// Waits up to `timeout` for what is queued to be exported. A full
    /// queue means the collector is not keeping up: nothing to wait for
    /// then, or shutting down would take as long as the backlog's exports.
    fn flush(&self, timeout: Duration) -> OTelSdkResult {
        let (done, wait) = mpsc::channel();
        match self.queue.try_send(Message::Flush(done)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(OTelSdkError::Timeout(Duration::ZERO)),
            Err(TrySendError::Disconnected(_)) => return Err(OTelSdkError::AlreadyShutdown),
        }
        wait.recv_timeout(timeout)
            .map_err(|_| OTelSdkError::Timeout(timeout))
    }
}

/// The exporter's thread: batches of up to [`BATCH`] spans, each sent when
/// full or [`LINGER`] after its first span, until the queue closes.
fn run<E: SpanExporter>(exporter: E, spans: Receiver<Message>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "tracing: no runtime for the exporter; spans are dropped");
            return;
        }
    };
    let mut batch = Vec::with_capacity(BATCH);
    let mut failures_logged = None::<Instant>;
    loop {
        let mut flushed = None;
        match spans.recv() {
            Ok(Message::Span(span)) => batch.push(*span),
            Ok(Message::Flush(done)) => flushed = Some(done),
            Err(_) => return,
        }
        let deadline = Instant::now() + LINGER;
        while flushed.is_none() && batch.len() < BATCH {
            match spans.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Message::Span(span)) => batch.push(*span),
                Ok(Message::Flush(done)) => flushed = Some(done),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        if !batch.is_empty() {
            let sent = batch.len() as u64;
            let outcome = runtime.block_on(exporter.export(std::mem::take(&mut batch)));
            batch = Vec::with_capacity(BATCH);
            match outcome {
                Ok(()) => METRICS
                    .trace_spans
                    .with_label_values(&["exported"])
                    .inc_by(sent),
                Err(error) => {
                    METRICS
                        .trace_spans
                        .with_label_values(&["failed"])
                        .inc_by(sent);
                    // One line a minute at most: a collector that is gone
                    // would otherwise fill the log.
                    if failures_logged.is_none_or(|at| at.elapsed() > Duration::from_secs(60)) {
                        failures_logged = Some(Instant::now());
                        tracing::warn!(%error, spans = sent, "tracing: export failed; spans dropped");
                    }
                }
            }
        }
        if let Some(done) = flushed {
            let _ = done.send(());
        }
    }
}
