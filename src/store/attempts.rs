//! Abuse-limit counts kept in the database, so that every replica serving
//! from it shares them (see `auth::limits`). Only a backend that several
//! processes share offers this ([`super::Store::attempt_ledger`]); a
//! single-process backend leaves the counting in memory.
//!
//! Time is the database's clock, so replicas with drifting clocks still
//! agree on which slice of a window an attempt falls in.

use super::StoreResult;

/// What a count is kept under: a digest of the limit's name and its key
/// (an email or a client address), so neither is stored in the clear.
pub type AttemptKey = [u8; 32];

/// A key's counts, just after one attempt was added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptCounts {
    /// The database clock at the attempt, in milliseconds since the Unix
    /// epoch; slice `n` spans `[n * slice_ms, (n + 1) * slice_ms)`.
    pub now_ms: i64,
    /// The slice the attempt was counted in.
    pub slice: i64,
    /// Each slice still counted (the attempt's own included) with its
    /// count, oldest first.
    pub slices: Vec<(i64, i64)>,
}

/// Sliding-window counts shared through the database.
pub trait AttemptLedger: Send + Sync {
    /// Adds one attempt under `key` to the current slice of `slice_ms`
    /// milliseconds, then returns the key's counts over the `span` slices
    /// that end with it. The addition is committed before the counts are
    /// read, so of any number of concurrent attempts at most the limit see
    /// a total within it.
    fn count_attempt(
        &self,
        key: &AttemptKey,
        slice_ms: i64,
        span: i64,
    ) -> StoreResult<AttemptCounts>;

    /// Takes back one attempt of `slice` (a right password, or an attempt
    /// refused after it was counted).
    fn forgive_attempt(&self, key: &AttemptKey, slice: i64) -> StoreResult<()>;

    /// Removes the counts whose slices no longer count; returns how many.
    fn sweep_attempts(&self) -> StoreResult<u64>;
}
