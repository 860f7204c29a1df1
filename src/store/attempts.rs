//! Abuse-limit counts kept in the database, so that every replica serving
//! from it shares them (see `auth::limits`). Only a backend that several
//! processes share offers this ([`super::Store::attempt_ledger`]); a
//! single-process backend leaves the counting in memory.
//!
//! Time is the database's clock, so replicas with drifting clocks still
//! agree on which slice of a window an attempt falls in.

use super::StoreResult;

/// What a count is kept under: a keyed digest of the limit and its key (an
/// email or a client address), so neither is stored in the clear.
pub type AttemptKey = [u8; 32];

/// A key's counts as an attempt found them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptCounts {
    /// The database clock at the attempt, in milliseconds since the Unix
    /// epoch; slice `n` spans `[n * slice_ms, (n + 1) * slice_ms)`.
    pub now_ms: i64,
    /// The slice the attempt falls in.
    pub slice: i64,
    /// Each slice still counted with its count, oldest first, before this
    /// attempt.
    pub slices: Vec<(i64, i64)>,
    /// Whether the attempt was counted (the slices held less than the
    /// limit); a refused attempt leaves the counts as they were.
    pub counted: bool,
}

/// Sliding-window counts shared through the database.
pub trait AttemptLedger: Send + Sync {
    /// Reads `key`'s counts over the `span` slices of `slice_ms`
    /// milliseconds that end with the current one and, if they total less
    /// than `max`, adds one attempt to the current slice. Attempts on one
    /// key are serialized across every process, so exactly `max` of any
    /// number of concurrent attempts are counted.
    fn count_attempt(
        &self,
        key: &AttemptKey,
        slice_ms: i64,
        span: i64,
        max: i64,
    ) -> StoreResult<AttemptCounts>;

    /// Takes back one attempt of `slice` (a right password, or an attempt
    /// another limit refused).
    fn forgive_attempt(&self, key: &AttemptKey, slice: i64) -> StoreResult<()>;

    /// Removes the counts whose slices no longer count; returns how many.
    fn sweep_attempts(&self) -> StoreResult<u64>;
}
