//! The access log: one line per answered request, written off the request
//! path. A request hands its fields to a bounded queue (no formatting, no
//! lock, no allocation of its own); one thread formats and writes the lines
//! in batches. Should the queue ever be full (a blocked standard error),
//! the line is dropped and counted in `conduit_log_lines_dropped_total`
//! rather than making requests wait.

use std::io::Write;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::traces::TraceId;
use super::LogFormat;
use crate::telemetry::metrics::METRICS;

/// Lines waiting to be written at most.
const QUEUE: usize = 64 * 1024;

/// One answered request.
pub struct Entry {
    pub at: SystemTime,
    pub request_id: String,
    pub method: &'static str,
    /// The route's template, never the raw path.
    pub route: &'static str,
    pub status: u16,
    pub latency: Duration,
    pub trace_id: Option<TraceId>,
}

static QUEUE_IN: OnceLock<SyncSender<Entry>> = OnceLock::new();

/// Starts the writer (once per process); until then, and when the log
/// level leaves out `conduit::http` at `info`, nothing is logged.
pub(super) fn start(format: LogFormat) {
    if QUEUE_IN.get().is_some() {
        return;
    }
    let (queue, entries) = mpsc::sync_channel(QUEUE);
    let started = std::thread::Builder::new()
        .name("conduit-access-log".into())
        .spawn(move || write_lines(entries, format));
    if started.is_ok() {
        let _ = QUEUE_IN.set(queue);
    }
}

/// Whether requests are logged at all.
pub fn enabled() -> bool {
    QUEUE_IN.get().is_some()
}

/// Queues `entry`'s line.
pub fn log(entry: Entry) {
    if let Some(queue) = QUEUE_IN.get() {
        if queue.try_send(entry).is_err() {
            METRICS.log_lines_dropped.inc();
        }
    }
}

fn write_lines(entries: Receiver<Entry>, format: LogFormat) {
    let mut lines = Vec::with_capacity(64 * 1024);
    while let Ok(first) = entries.recv() {
        format_line(&mut lines, &first, format);
        // Whatever else is queued goes out in the same write.
        while lines.len() < 60 * 1024 {
            match entries.try_recv() {
                Ok(entry) => format_line(&mut lines, &entry, format),
                Err(_) => break,
            }
        }
        let _ = std::io::stderr().write_all(&lines);
        lines.clear();
    }
}

/// Appends `entry`'s line: in text, the layout of the other log lines;
/// in JSON, one flat object. Every value is a fixed word, a number, a
/// route template or a request id of `[A-Za-z0-9._:-]`: nothing to escape.
pub(crate) fn format_line(out: &mut Vec<u8>, entry: &Entry, format: LogFormat) {
    let at = OffsetDateTime::from(entry.at);
    let at = at.format(&Rfc3339).unwrap_or_default();
    let latency_ms = entry.latency.as_secs_f64() * 1000.0;
    let _ = match format {
        LogFormat::Text => {
            let _ = write!(
                out,
                "{at}  INFO conduit::http: request request_id={} method={} route={} status={} latency_ms={latency_ms:.3}",
                entry.request_id, entry.method, entry.route, entry.status
            );
            if let Some(trace_id) = entry.trace_id {
                let _ = write!(out, " trace_id={trace_id}");
            }
            writeln!(out)
        }
        LogFormat::Json => {
            let _ = write!(
                out,
                r#"{{"timestamp":"{at}","level":"INFO","target":"conduit::http","message":"request","request_id":"{}","method":"{}","route":"{}","status":{},"latency_ms":{latency_ms:.3}"#,
                entry.request_id, entry.method, entry.route, entry.status
            );
            if let Some(trace_id) = entry.trace_id {
                let _ = write!(out, r#","trace_id":"{trace_id}""#);
            }
            writeln!(out, "}}")
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(trace_id: Option<TraceId>) -> Entry {
        Entry {
            at: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            request_id: "abc-1".into(),
            method: "GET",
            route: "/api/articles/:slug",
            status: 404,
            latency: Duration::from_micros(1234),
            trace_id,
        }
    }

    #[test]
    fn text_lines_carry_the_request_and_its_trace() {
        let mut out = Vec::new();
        format_line(&mut out, &entry(Some(TraceId([0xab; 16]))), LogFormat::Text);
        let line = String::from_utf8(out).unwrap();
        assert_eq!(
            line,
            format!(
                "2023-11-14T22:13:20.123Z  INFO conduit::http: request request_id=abc-1 method=GET \
                 route=/api/articles/:slug status=404 latency_ms=1.234 trace_id={}\n",
                "ab".repeat(16)
            )
        );
    }

    #[test]
    fn json_lines_are_one_flat_object() {
        let mut out = Vec::new();
        format_line(&mut out, &entry(None), LogFormat::Json);
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["request_id"], "abc-1");
        assert_eq!(value["route"], "/api/articles/:slug");
        assert_eq!(value["status"], 404);
        assert_eq!(value["latency_ms"], 1.234);
        assert!(value.get("trace_id").is_none());
        let mut out = Vec::new();
        format_line(&mut out, &entry(Some(TraceId([1; 16]))), LogFormat::Json);
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["trace_id"], "01".repeat(16));
    }
}
