//! Abuse-limit counts on PostgreSQL. Attempts on one key take a
//! transaction-scoped advisory lock, read the key's slices, and add to the
//! current one only if they hold less than the limit: the limit is exact
//! however many replicas count at once. Other keys never wait (short of a
//! 64-bit lock-id collision, which only serializes two keys).

use postgres::Transaction;

use super::Session;
use crate::store::attempts::{AttemptCounts, AttemptKey};
use crate::store::StoreResult;

/// The database clock in milliseconds since the Unix epoch.
const NOW_MS: &str = "floor(extract(epoch FROM statement_timestamp()) * 1000)::bigint";

/// Expired rows deleted per statement, so that a long backlog never runs
/// into the statement timeout.
const SWEEP_BATCH: i64 = 5_000;

pub(super) fn count(
    s: &mut Session<'_, Transaction<'_>>,
    key: &AttemptKey,
    slice_ms: i64,
    span: i64,
    max: i64,
) -> StoreResult<AttemptCounts> {
    let lock_id = i64::from_be_bytes([
        key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
    ]);
    s.execute("SELECT pg_advisory_xact_lock($1)", &[&lock_id])?;
    let key = key.as_slice();
    // Read after the lock: this statement's snapshot holds every attempt
    // committed by whoever held it before.
    let rows = s.query(
        &format!(
            "SELECT now.ms, c.slice, c.count::bigint \
             FROM (SELECT {NOW_MS} AS ms) now \
             LEFT JOIN attempt_counts c \
               ON c.key = $1 AND c.slice > now.ms / $2::bigint - $3::bigint \
             ORDER BY c.slice"
        ),
        &[&key, &slice_ms, &span],
    )?;
    let now_ms: i64 = rows.first().map_or(0, |row| row.get(0));
    let slice = now_ms / slice_ms;
    let slices: Vec<(i64, i64)> = rows
        .iter()
        .filter_map(|row| Some((row.get::<_, Option<i64>>(1)?, row.get::<_, Option<i64>>(2)?)))
        .collect();
    let counted = slices.iter().map(|&(_, count)| count).sum::<i64>() < max;
    if counted {
        s.execute(
            "INSERT INTO attempt_counts AS c (key, slice, count, expires_at) \
             VALUES ($1, $2, 1, to_timestamp(($2 + $3::bigint) * $4::bigint / 1000.0)) \
             ON CONFLICT (key, slice) DO UPDATE SET count = c.count + 1",
            &[&key, &slice, &span, &slice_ms],
        )?;
    }
    Ok(AttemptCounts {
        now_ms,
        slice,
        slices,
        counted,
    })
}

pub(super) fn forgive(
    s: &mut Session<'_, postgres::Client>,
    key: &AttemptKey,
    slice: i64,
) -> StoreResult<()> {
    s.execute(
        "UPDATE attempt_counts SET count = count - 1 \
         WHERE key = $1 AND slice = $2 AND count > 0",
        &[&key.as_slice(), &slice],
    )?;
    Ok(())
}

pub(super) fn sweep(s: &mut Session<'_, postgres::Client>) -> StoreResult<u64> {
    let mut swept = 0;
    loop {
        let deleted = s.execute(
            "DELETE FROM attempt_counts WHERE (key, slice) IN \
             (SELECT key, slice FROM attempt_counts \
              WHERE expires_at < statement_timestamp() LIMIT $1)",
            &[&SWEEP_BATCH],
        )?;
        swept += deleted;
        if deleted < SWEEP_BATCH as u64 {
            return Ok(swept);
        }
    }
}
