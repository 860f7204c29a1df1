//! Abuse-limit counts on PostgreSQL: one upsert per attempt, then one read
//! of the key's slices. Both statements commit on their own, which is what
//! makes the limit hold across replicas (see [`AttemptLedger`]).

use postgres::Client;

use super::Session;
#[cfg(doc)]
use crate::store::attempts::AttemptLedger;
use crate::store::attempts::{AttemptCounts, AttemptKey};
use crate::store::StoreResult;

/// The database clock in milliseconds since the Unix epoch.
const NOW_MS: &str = "floor(extract(epoch FROM statement_timestamp()) * 1000)::bigint";

pub(super) fn count(
    s: &mut Session<'_, Client>,
    key: &AttemptKey,
    slice_ms: i64,
    span: i64,
) -> StoreResult<AttemptCounts> {
    let key = key.as_slice();
    let row = s.one(
        &format!(
            "INSERT INTO attempt_counts AS c (key, slice, count, expires_at) \
             VALUES ($1, {NOW_MS} / $2::bigint, 1, \
                     to_timestamp(({NOW_MS} / $2 + $3::bigint) * $2 / 1000.0)) \
             ON CONFLICT (key, slice) DO UPDATE SET count = c.count + 1 \
             RETURNING slice, {NOW_MS}"
        ),
        &[&key, &slice_ms, &span],
    )?;
    let (slice, now_ms): (i64, i64) = (row.get(0), row.get(1));
    let slices = s
        .query(
            "SELECT slice, count::bigint FROM attempt_counts \
             WHERE key = $1 AND slice > $2::bigint - $3::bigint ORDER BY slice",
            &[&key, &slice, &span],
        )?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    Ok(AttemptCounts {
        now_ms,
        slice,
        slices,
    })
}

pub(super) fn forgive(
    s: &mut Session<'_, Client>,
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

pub(super) fn sweep(s: &mut Session<'_, Client>) -> StoreResult<u64> {
    s.execute(
        "DELETE FROM attempt_counts WHERE expires_at < statement_timestamp()",
        &[],
    )
}
