//! The access log: one line per answered request, written off the request
//! path. A request hands its fields to a bounded queue (no formatting, no
//! lock, no allocation of its own); one thread formats and writes the lines
//! in batches. Should the queue ever be full (a blocked standard error),
//! the line is dropped and counted in `conduit_log_lines_dropped_total`
//! rather than making requests wait.

use std::io::Write;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use time::OffsetDateTime;

use super::request_tag::RequestTag;
use super::LogFormat;
use crate::telemetry::metrics::METRICS;

/// Lines waiting to be written at most.
const QUEUE: usize = 64 * 1024;

/// One answered request.
pub struct Entry {
    pub at: SystemTime,
    /// The request id and trace id, shared with the request's other lines.
    pub request: Arc<RequestTag>,
    pub method: &'static str,
    /// The route's template, never the raw path.
    pub route: &'static str,
    pub status: u16,
    pub latency: Duration,
}

static QUEUE_IN: OnceLock<SyncSender<Entry>> = OnceLock::new();

/// The queue's other end, with the writer's format: taken by the writer
/// thread each round, and by [`flush`] at exit.
static QUEUE_OUT: OnceLock<(Mutex<Receiver<Entry>>, LogFormat)> = OnceLock::new();

/// Starts the writer (once per process); until then, and when the log
/// level leaves out `conduit::http` at `info`, nothing is logged.
pub(super) fn start(format: LogFormat) {
    if QUEUE_IN.get().is_some() {
        return;
    }
    let (queue, entries) = mpsc::sync_channel(QUEUE);
    if QUEUE_OUT.set((Mutex::new(entries), format)).is_err() {
        return;
    }
    let started = std::thread::Builder::new()
        .name("conduit-access-log".into())
        .spawn(write_lines);
    if started.is_ok() {
        let _ = QUEUE_IN.set(queue);
    }
}

/// Writes the lines still queued (at exit).
pub fn flush() {
    if let Some((entries, format)) = QUEUE_OUT.get() {
        if let Ok(entries) = entries.lock() {
            let mut lines = Vec::new();
            while write_batch(&entries, &mut lines, *format) {}
        }
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

/// How often the writer looks for lines. It does not block on the queue:
/// a blocked reader would have every request wake it (a system call per
/// request); this way a busy second costs a hundred writes.
const WRITE_EVERY: Duration = Duration::from_millis(10);

fn write_lines() {
    let Some((entries, format)) = QUEUE_OUT.get() else {
        return;
    };
    let mut lines = Vec::with_capacity(64 * 1024);
    loop {
        let wrote = match entries.lock() {
            Ok(entries) => write_batch(&entries, &mut lines, *format),
            Err(_) => return,
        };
        if !wrote {
            std::thread::sleep(WRITE_EVERY);
        }
    }
}

/// Formats what is queued (up to about 60 KiB of lines) and writes it in
/// one call; false when nothing was queued.
fn write_batch(entries: &Receiver<Entry>, lines: &mut Vec<u8>, format: LogFormat) -> bool {
    while lines.len() < 60 * 1024 {
        match entries.try_recv() {
            Ok(entry) => format_line(lines, &entry, format),
            Err(_) => break,
        }
    }
    if lines.is_empty() {
        return false;
    }
    let _ = std::io::stderr().write_all(lines);
    lines.clear();
    true
}

/// RFC 3339 in UTC with microseconds, as the other log lines print it.
struct Timestamp(SystemTime);

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = OffsetDateTime::from(self.0);
        let (year, month, day) = at.to_calendar_date();
        let (hour, minute, second, micro) = at.to_hms_micro();
        write!(
            f,
            "{year:04}-{:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{micro:06}Z",
            u8::from(month)
        )
    }
}

/// Appends `entry`'s line: in text, the layout of the other log lines;
/// in JSON, one flat object. Every value is a fixed word, a number, a
/// route template or a request id of `[A-Za-z0-9._:-]`: nothing to escape.
pub(crate) fn format_line(out: &mut Vec<u8>, entry: &Entry, format: LogFormat) {
    let at = Timestamp(entry.at);
    // Milliseconds with three decimals, from integers (float formatting
    // costs more than the rest of the line).
    let micros = entry.latency.as_micros();
    let latency_ms = format_args!("{}.{:03}", micros / 1000, micros % 1000);
    let _ = match format {
        LogFormat::Text => {
            let _ = write!(
                out,
                "{at}  INFO conduit::http: request request_id={} method={} route={} status={} latency_ms={latency_ms}",
                entry.request.request_id, entry.method, entry.route, entry.status
            );
            if let Some(trace_id) = entry.request.trace_id {
                let _ = write!(out, " trace_id={trace_id}");
            }
            writeln!(out)
        }
        LogFormat::Json => {
            let _ = write!(
                out,
                r#"{{"timestamp":"{at}","level":"INFO","target":"conduit::http","message":"request","request_id":"{}","method":"{}","route":"{}","status":{},"latency_ms":{latency_ms}"#,
                entry.request.request_id, entry.method, entry.route, entry.status
            );
            if let Some(trace_id) = entry.request.trace_id {
                let _ = write!(out, r#","trace_id":"{trace_id}""#);
            }
            writeln!(out, "}}")
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::traces::TraceId;

    fn entry(trace_id: Option<TraceId>) -> Entry {
        Entry {
            at: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            request: Arc::new(RequestTag {
                request_id: "abc-1".into(),
                trace_id,
                traced: false,
            }),
            method: "GET",
            route: "/api/articles/:slug",
            status: 404,
            latency: Duration::from_micros(1234),
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
                "2023-11-14T22:13:20.123000Z  INFO conduit::http: request request_id=abc-1 method=GET \
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
