//! Trace spans of the data layer: one per store call, the wait for a
//! pooled connection, and one per SQL statement. Only a traced request's
//! spans are recorded (telemetry/traces); for any other request each span
//! is a disabled handle and nothing below is computed.
//!
//! A statement span names the statement by its operation and main table
//! (`SELECT articles`), never by its parameters: the SQL is parameterised,
//! so no user data is in it, and the text itself stays out of the span.

use std::cell::RefCell;

use tracing::field::Empty;

use crate::telemetry::request_tag::traced;

/// The span of a store call made from `caller` (a closure's type name:
/// the function that made the call).
pub fn store_call(caller: &'static str) -> tracing::Span {
    if !traced() {
        return tracing::Span::none();
    }
    let span = tracing::trace_span!("store", otel.name = Empty, code.function.name = Empty);
    if !span.is_disabled() {
        let function = caller
            .trim_start_matches("conduit::")
            .split("::{{closure}}")
            .next()
            .unwrap_or(caller);
        span.record(
            "otel.name",
            tracing::field::display(format_args!("store {function}")),
        );
        span.record("code.function.name", function);
    }
    span
}

/// The span of the wait for a pooled connection.
pub fn pool_wait() -> tracing::Span {
    if !traced() {
        return tracing::Span::none();
    }
    tracing::trace_span!("pool.wait")
}

/// The span of one statement of `system` (`postgresql`, `sqlite`).
pub fn statement(system: &'static str, sql: &str) -> tracing::Span {
    if !traced() {
        return tracing::Span::none();
    }
    let span = tracing::trace_span!(
        "statement",
        otel.name = Empty,
        db.system.name = system,
        db.operation.name = Empty,
        db.collection.name = Empty,
    );
    if !span.is_disabled() {
        let (operation, table) = summary(sql);
        match table {
            Some(table) => {
                span.record(
                    "otel.name",
                    tracing::field::display(format_args!("{operation} {table}")),
                );
                span.record("db.collection.name", table);
            }
            None => {
                span.record("otel.name", operation);
            }
        }
        span.record("db.operation.name", operation);
    }
    span
}

thread_local! {
    /// The SQLite statement running on this thread, between SQLite's
    /// start and profile callbacks.
    static SQLITE_STATEMENT: RefCell<Option<tracing::Span>> = const { RefCell::new(None) };
}

/// SQLite's trace callback (`Connection::trace_v2`): a statement's span
/// opens when it starts and closes when SQLite reports its run time.
pub fn sqlite_trace(event: rusqlite::trace::TraceEvent<'_>) {
    match event {
        rusqlite::trace::TraceEvent::Stmt(_, sql) => SQLITE_STATEMENT.with(|current| {
            let mut current = current.borrow_mut();
            // A trigger's program reports a start of its own ("-- name").
            if current.is_none() && !sql.starts_with("--") {
                let span = statement("sqlite", sql);
                if !span.is_disabled() {
                    *current = Some(span);
                }
            }
        }),
        rusqlite::trace::TraceEvent::Profile(..) => SQLITE_STATEMENT.with(|current| {
            current.borrow_mut().take();
        }),
        _ => {}
    }
}

/// The operation (first keyword; for `WITH ...`, the statement the common
/// table expressions feed) and the first table it reads or writes.
pub fn summary(sql: &str) -> (&'static str, Option<&str>) {
    const OPERATIONS: [&str; 6] = ["SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "PRAGMA"];
    let words = || {
        sql.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',' || c == ';')
            .filter(|w| !w.is_empty())
    };
    let first = words().next().unwrap_or("");
    let Some(mut operation) = OPERATIONS
        .iter()
        .copied()
        .find(|op| first.eq_ignore_ascii_case(op))
    else {
        return ("SQL", None);
    };
    if operation == "WITH" {
        // The last top-level keyword among the operations, roughly: the
        // first INSERT/UPDATE/DELETE if any, else SELECT.
        operation = ["INSERT", "UPDATE", "DELETE"]
            .into_iter()
            .find(|op| words().any(|w| w.eq_ignore_ascii_case(op)))
            .unwrap_or("SELECT");
    }
    let mut after = false;
    let table = words().find(|word| {
        if after {
            return true;
        }
        after = ["FROM", "INTO", "UPDATE"]
            .iter()
            .any(|k| word.eq_ignore_ascii_case(k));
        false
    });
    let table = table.filter(|t| {
        t.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            && !OPERATIONS.iter().any(|op| t.eq_ignore_ascii_case(op))
    });
    (operation, table)
}

#[cfg(test)]
mod tests {
    use super::summary;

    #[test]
    fn statements_are_named_by_operation_and_table_only() {
        assert_eq!(
            summary("SELECT a, b FROM articles WHERE slug = $1"),
            ("SELECT", Some("articles"))
        );
        assert_eq!(
            summary("  insert into users (email) values (?1)"),
            ("INSERT", Some("users"))
        );
        assert_eq!(
            summary("UPDATE articles SET title = $1"),
            ("UPDATE", Some("articles"))
        );
        assert_eq!(
            summary("DELETE FROM comments WHERE id = $1"),
            ("DELETE", Some("comments"))
        );
        assert_eq!(
            summary("WITH page AS (SELECT id FROM list_blocks) SELECT * FROM page"),
            ("SELECT", Some("list_blocks"))
        );
        assert_eq!(
            summary("WITH x AS (DELETE FROM tags RETURNING 1) SELECT 1"),
            ("DELETE", Some("tags"))
        );
        assert_eq!(
            summary("SELECT pg_current_wal_insert_lsn()"),
            ("SELECT", None)
        );
        assert_eq!(summary("VACUUM"), ("SQL", None));
        assert_eq!(summary("SELECT 1 FROM (SELECT 2)"), ("SELECT", None));
    }
}
