//! Counts kept in the database every replica uses, through the store's
//! attempt ledger, under keyed digests of the limit and its key.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{wait_secs, LimitError, Ticket, BUCKETS, RING};
use crate::store::attempts::{AttemptCounts, AttemptKey, AttemptLedger};
use crate::store::{Db, Store, StoreError, StoreResult};

/// A limit whose counts live in the database every replica uses.
#[derive(Clone)]
pub(super) struct Shared {
    db: Db,
    /// Keys the digests, so that a stored digest cannot be matched against
    /// guessed addresses or emails without it.
    pepper: Arc<[u8]>,
    /// Told apart in the digest, so limits never share a count.
    name: &'static str,
    max: u32,
    slice_ms: i64,
}

impl Shared {
    /// The limit `name` of `max` attempts per `window`, counted in `db`
    /// under digests keyed with `pepper`.
    pub(super) fn new(
        db: &Db,
        pepper: &Arc<[u8]>,
        name: &'static str,
        max: u32,
        window: Duration,
    ) -> Shared {
        Shared {
            db: db.clone(),
            pepper: Arc::clone(pepper),
            name,
            max,
            slice_ms: ((window / BUCKETS as u32).as_millis() as i64).max(1),
        }
    }

    /// The stored key: the pepper, the limit and its slice length (replicas
    /// configured differently never mix slice numbers), then the key.
    fn key(&self, key: &str) -> AttemptKey {
        let mut digest = Sha256::new();
        for part in [
            &self.pepper[..],
            self.name.as_bytes(),
            &self.slice_ms.to_be_bytes(),
        ] {
            digest.update((part.len() as u64).to_be_bytes());
            digest.update(part);
        }
        digest.update(key.as_bytes());
        digest.finalize().into()
    }

    pub(super) async fn acquire(&self, key: &str) -> Result<Ticket, LimitError> {
        let key = self.key(key);
        let (slice_ms, max) = (self.slice_ms, self.max);
        let counts = self
            .db
            .run(move |store| {
                ledger(store)?.count_attempt(&key, slice_ms, RING as i64, i64::from(max))
            })
            .await?;
        judge(&counts, max, slice_ms).map_err(LimitError::Exceeded)
    }

    pub(super) async fn forgive(&self, key: &str, ticket: Ticket) {
        let key = self.key(key);
        let slice = ticket.slice as i64;
        let forgiven = self
            .db
            .run(move |store| ledger(store)?.forgive_attempt(&key, slice))
            .await;
        if let Err(error) = forgiven {
            tracing::warn!(cause = %error.report(), "could not take back a counted attempt");
        }
    }
}

/// The attempt's ticket when the ledger counted it; else the seconds to
/// wait until the counts it found leave room for one more.
fn judge(counts: &AttemptCounts, max: u32, slice_ms: i64) -> Result<Ticket, u64> {
    if counts.counted {
        return Ok(Ticket {
            slice: counts.slice as u64,
        });
    }
    let slices = counts
        .slices
        .iter()
        .map(|&(slice, count)| (slice as u64, count.max(0) as u64));
    let total = counts
        .slices
        .iter()
        .map(|&(_, count)| count.max(0) as u64)
        .sum();
    Err(wait_secs(
        slices,
        total,
        max,
        Duration::from_millis(slice_ms as u64),
        Duration::from_millis(counts.now_ms.max(0) as u64),
    ))
}

fn ledger(store: &dyn Store) -> StoreResult<&dyn AttemptLedger> {
    store
        .attempt_ledger()
        .ok_or_else(|| StoreError::Backend("this store keeps no shared attempt counts".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_counts_are_judged_like_memory_ones() {
        // Slices of 10 s; the attempt came in slice 105, at 1055 s.
        let counts = |slices: Vec<(i64, i64)>, counted| AttemptCounts {
            now_ms: 1_055_000,
            slice: 105,
            slices,
            counted,
        };
        let within = counts(vec![(95, 2)], true);
        assert_eq!(judge(&within, 3, 10_000).unwrap().slice, 105);
        // Three counted already: one more fits once the two of slice 95
        // leave the span, when slice 106 begins at 1060 s.
        let over = counts(vec![(95, 2), (100, 1)], false);
        assert_eq!(judge(&over, 3, 10_000).unwrap_err(), 5);
        let never = counts(vec![], false);
        assert_eq!(judge(&never, 0, 10_000).unwrap_err(), 110);
    }
}
