//! Exemplars: for each latency bucket of each route, the last traced
//! request that fell in it, so a point on a latency graph opens a trace.
//!
//! Only the OpenMetrics exposition carries exemplars, so `/metrics` answers
//! in OpenMetrics when the scraper asks for it (Prometheus does when its
//! exemplar storage is on), and in the classic text format otherwise. The
//! metrics library writes the classic format; [`openmetrics`] rewrites it
//! and adds the exemplars to `conduit_http_request_duration_seconds`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{LazyLock, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use super::metrics::LATENCY_BUCKETS;
use super::traces::TraceId;

/// The OpenMetrics content type.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The histogram whose buckets carry exemplars.
const HISTOGRAM: &str = "conduit_http_request_duration_seconds_bucket";

#[derive(Clone, Copy, Debug, PartialEq)]
struct Exemplar {
    trace_id: TraceId,
    seconds: f64,
    /// When it was observed, in seconds since the epoch.
    at: f64,
}

type Key = (&'static str, &'static str, usize);

/// By method, route template and bucket: bounded by the route table.
static LAST: LazyLock<Mutex<HashMap<Key, Exemplar>>> = LazyLock::new(Default::default);

/// Keeps a traced request's latency as its bucket's exemplar.
pub fn record(method: &'static str, route: &'static str, seconds: f64, trace_id: TraceId) {
    let bucket = LATENCY_BUCKETS
        .iter()
        .position(|le| seconds <= *le)
        .unwrap_or(LATENCY_BUCKETS.len());
    let at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    if let Ok(mut last) = LAST.lock() {
        last.insert(
            (method, route, bucket),
            Exemplar {
                trace_id,
                seconds,
                at,
            },
        );
    }
}

/// Whether an `Accept` header asks for OpenMetrics.
pub fn wanted(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| {
        accept.split(',').any(|entry| {
            let mut parts = entry.split(';').map(str::trim);
            parts.next() == Some("application/openmetrics-text")
                && !parts.any(|p| {
                    p.replace(' ', "").starts_with("q=0")
                        && !p.contains(|c: char| ('1'..='9').contains(&c))
                })
        })
    })
}

/// The classic text exposition `text`, as OpenMetrics 1.0, with exemplars.
pub fn openmetrics(text: &str) -> String {
    let last = LAST.lock().map(|l| l.clone()).unwrap_or_default();
    let mut out = String::with_capacity(text.len() + 1024);
    let mut counters = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            // A counter family is named without its `_total` suffix.
            if let Some(family) = rest.strip_suffix(" counter") {
                let name = family.strip_suffix("_total").unwrap_or(family);
                counters.push(family.to_owned());
                let _ = writeln!(out, "# TYPE {name} counter");
                continue;
            }
            let _ = writeln!(out, "# TYPE {}", rest.replace(" untyped", " unknown"));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (family, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let name = family.strip_suffix("_total").unwrap_or(family);
            let _ = writeln!(out, "# HELP {name} {help}");
            continue;
        }
        out.push_str(line);
        if line.starts_with(HISTOGRAM) {
            if let Some(exemplar) = exemplar_of(line, &last) {
                let _ = write!(
                    out,
                    " # {{trace_id=\"{}\"}} {} {:.3}",
                    exemplar.trace_id, exemplar.seconds, exemplar.at
                );
            }
        }
        out.push('\n');
    }
    out.push_str("# EOF\n");
    out
}

/// The exemplar of a bucket line such as
/// `..._bucket{method="GET",route="/api/tags",le="0.005"} 12`.
fn exemplar_of<'a>(
    line: &'a str,
    last: &HashMap<(&'a str, &'a str, usize), Exemplar>,
) -> Option<Exemplar> {
    let label = |name: &str| {
        let start = line.find(&format!("{name}=\""))? + name.len() + 2;
        let end = start + line[start..].find('"')?;
        Some(&line[start..end])
    };
    let (method, route, le) = (label("method")?, label("route")?, label("le")?);
    let bucket = match le {
        "+Inf" => LATENCY_BUCKETS.len(),
        le => {
            let le: f64 = le.parse().ok()?;
            LATENCY_BUCKETS
                .iter()
                .position(|b| (b - le).abs() < 1e-12)?
        }
    };
    last.get(&(method, route, bucket)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_names_counters_without_total_ends_with_eof_and_carries_exemplars() {
        record("GET", "/api/exemplar-test", 0.003, TraceId([0x2a; 16]));
        let text = "# HELP conduit_http_requests_total HTTP requests answered\n\
                    # TYPE conduit_http_requests_total counter\n\
                    conduit_http_requests_total{method=\"GET\",route=\"/api/exemplar-test\",status=\"200\"} 3\n\
                    # HELP conduit_http_request_duration_seconds Time to answer a request\n\
                    # TYPE conduit_http_request_duration_seconds histogram\n\
                    conduit_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/exemplar-test\",le=\"0.001\"} 0\n\
                    conduit_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/exemplar-test\",le=\"0.005\"} 3\n\
                    conduit_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/other\",le=\"0.005\"} 1\n";
        let open = openmetrics(text);
        let lines: Vec<&str> = open.lines().collect();
        assert_eq!(
            lines[0],
            "# HELP conduit_http_requests HTTP requests answered"
        );
        assert_eq!(lines[1], "# TYPE conduit_http_requests counter");
        assert!(
            lines[2].starts_with("conduit_http_requests_total{"),
            "samples keep _total"
        );
        assert!(
            !lines[5].contains('#'),
            "no exemplar where no traced request fell"
        );
        let (sample, exemplar) = lines[6]
            .split_once(" # ")
            .expect("an exemplar on the 5 ms bucket");
        assert!(sample.ends_with("le=\"0.005\"} 3"));
        assert!(exemplar.starts_with(&format!("{{trace_id=\"{}\"}} 0.003 ", "2a".repeat(16))));
        assert!(
            !lines[7].contains('#'),
            "another route has its own exemplars"
        );
        assert_eq!(lines.last(), Some(&"# EOF"));
    }

    #[test]
    fn only_an_openmetrics_accept_gets_openmetrics() {
        assert!(wanted(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
        )));
        assert!(!wanted(Some("text/plain")));
        assert!(!wanted(Some("application/openmetrics-text;q=0,text/plain")));
        assert!(wanted(Some(
            "application/openmetrics-text;q=0.5,text/plain"
        )));
        assert!(!wanted(None));
    }
}
