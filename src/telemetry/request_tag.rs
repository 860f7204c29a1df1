//! Which request a log line belongs to: its request id, and its trace id
//! when it has one, appended to every line logged while the request runs,
//! on the async runtime or on the threads it hands work to.
//!
//! A `tracing` span per request would do the same, but the log layer
//! formats a span's fields into a new string when the span opens, on
//! every request, for the rare request that logs anything. The tag costs
//! one allocation per request (shared with the access log line) and a
//! thread-local swap per poll; formatting happens only for lines logged.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::traces::TraceId;

/// A request, as its log lines name it.
#[derive(Debug)]
pub struct RequestTag {
    /// `[A-Za-z0-9._:-]`, at most 128 bytes (`server::request_id`).
    pub request_id: String,
    pub trace_id: Option<TraceId>,
    /// Whether the request's spans are exported.
    pub traced: bool,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<RequestTag>>> = const { RefCell::new(None) };
}

/// The request this thread works for now, if any.
pub fn current() -> Option<Arc<RequestTag>> {
    CURRENT.with(|current| current.borrow().clone())
}

/// Whether the current request is traced: the spans under a request are
/// built only then (an untraced request pays one thread-local read per
/// span site, not a trip through the subscriber).
pub fn traced() -> bool {
    CURRENT.with(|current| current.borrow().as_ref().is_some_and(|tag| tag.traced))
}

/// Runs `f` as work of `tag`'s request (on a blocking thread, say).
pub fn scope<T>(tag: Option<Arc<RequestTag>>, f: impl FnOnce() -> T) -> T {
    let _restore = Restore(Some(CURRENT.with(|current| current.replace(tag))));
    f()
}

/// `f`, to run on another thread as work of the current request.
pub fn carried<T>(f: impl FnOnce() -> T) -> impl FnOnce() -> T {
    let tag = current();
    move || scope(tag, f)
}

/// Puts the thread's previous tag back when dropped, so a panic in the
/// work (caught by tokio, the thread living on) leaves no stale tag.
struct Restore(Option<Option<Arc<RequestTag>>>);

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(previous) = self.0.take() {
            CURRENT.with(|current| current.replace(previous));
        }
    }
}

pin_project_lite::pin_project! {
    /// A future polled as work of a request.
    pub struct Tagged<F> {
        tag: Option<Arc<RequestTag>>,
        #[pin]
        inner: F,
    }
}

impl<F> Tagged<F> {
    pub fn new(tag: Arc<RequestTag>, inner: F) -> Self {
        Tagged {
            tag: Some(tag),
            inner,
        }
    }
}

impl<F: Future> Future for Tagged<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        // The tag moves into the thread-local and back: no count to touch.
        // Should the poll panic, the guard still puts the previous tag back.
        let mut restore = Restore(Some(
            CURRENT.with(|current| current.replace(this.tag.take())),
        ));
        let polled = this.inner.poll(cx);
        if let Some(previous) = restore.0.take() {
            *this.tag = CURRENT.with(|current| current.replace(previous));
        }
        polled
    }
}

/// Appends the current request's tag to each line `E` formats.
pub struct WithRequest<E> {
    pub inner: E,
    pub json: bool,
}

impl<S, N, E> FormatEvent<S, N> for WithRequest<E>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    E: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        cx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Some(tag) = current() else {
            return self.inner.format_event(cx, writer, event);
        };
        let mut line = String::new();
        self.inner.format_event(cx, Writer::new(&mut line), event)?;
        let line = line.trim_end_matches('\n');
        if self.json {
            let Some(open) = line.strip_suffix('}') else {
                return writeln!(writer, "{line}");
            };
            write!(writer, "{open},\"request_id\":\"{}\"", tag.request_id)?;
            if let Some(trace_id) = tag.trace_id {
                write!(writer, ",\"trace_id\":\"{trace_id}\"")?;
            }
            writeln!(writer, "}}")
        } else {
            let mut suffix = format!(" request_id={}", tag.request_id);
            if let Some(trace_id) = tag.trace_id {
                let _ = write!(suffix, " trace_id={trace_id}");
            }
            writeln!(writer, "{line}{suffix}")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// The lines `log` writes with the tag of a request in scope, in text
    /// or JSON.
    fn logged(json: bool, log: impl FnOnce()) -> String {
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&out);
        let make = move || Sink(Arc::clone(&sink));
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(make)
            .with_ansi(false);
        if json {
            let subscriber =
                tracing_subscriber::registry().with(layer.json().event_format(WithRequest {
                    inner: tracing_subscriber::fmt::format().json().flatten_event(true),
                    json: true,
                }));
            tracing::subscriber::with_default(subscriber, log);
        } else {
            let subscriber = tracing_subscriber::registry().with(layer.event_format(WithRequest {
                inner: tracing_subscriber::fmt::format(),
                json: false,
            }));
            tracing::subscriber::with_default(subscriber, log);
        }
        let bytes = out.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn tag() -> Option<Arc<RequestTag>> {
        Some(Arc::new(RequestTag {
            request_id: "req-7".into(),
            trace_id: Some(TraceId([0xab; 16])),
            traced: false,
        }))
    }

    #[test]
    fn lines_logged_for_a_request_name_it_and_others_do_not() {
        let text = logged(false, || {
            scope(tag(), || {
                tracing::warn!(cause = "x", "database unavailable")
            });
            tracing::warn!("outside");
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].ends_with(&format!(
                "cause=\"x\" request_id=req-7 trace_id={}",
                "ab".repeat(16)
            )),
            "{}",
            lines[0]
        );
        assert!(!lines[1].contains("request_id"), "{}", lines[1]);

        let json = logged(true, || {
            scope(tag(), || {
                tracing::warn!(cause = "x", "database unavailable")
            })
        });
        let line: serde_json::Value = serde_json::from_str(json.trim()).expect("one JSON object");
        assert_eq!(line["message"], "database unavailable");
        assert_eq!(line["cause"], "x");
        assert_eq!(line["request_id"], "req-7");
        assert_eq!(line["trace_id"], "ab".repeat(16));
    }

    #[test]
    fn a_panic_in_tagged_work_leaves_no_tag_behind() {
        let caught = std::panic::catch_unwind(|| scope(tag(), || panic!("work failed")));
        assert!(caught.is_err());
        assert!(
            current().is_none(),
            "the thread's tag is what it was before"
        );
        let mut future = std::pin::pin!(Tagged::new(tag().unwrap(), async {
            panic!("handler failed");
        }));
        let waker = futures_util::task::noop_waker();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = future.as_mut().poll(&mut Context::from_waker(&waker));
        }));
        assert!(caught.is_err());
        assert!(current().is_none());
    }

    #[tokio::test]
    async fn a_tagged_future_is_its_request_on_every_poll_and_nothing_after() {
        let tag = tag().unwrap();
        let seen = Tagged::new(Arc::clone(&tag), async {
            let before = current().map(|t| t.request_id.clone());
            tokio::task::yield_now().await;
            let after = current().map(|t| t.request_id.clone());
            (before, after)
        })
        .await;
        assert_eq!(seen, (Some("req-7".into()), Some("req-7".into())));
        assert!(current().is_none(), "the tag leaves with the future");
    }
}
