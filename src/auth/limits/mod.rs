//! Abuse limits: failed logins per email and per client address, and
//! registrations per address.
//!
//! Each limit is a sliding window kept in [`BUCKETS`] slices: an attempt
//! counts for as long as its slice overlaps the last `window`. So at most
//! `max` attempts get through in any span of one window (a fixed window
//! lets twice that through at its edge), and the budget comes back a slice
//! at a time, at most one slice later than the exact moment.
//!
//! An attempt is counted *before* the work it guards (a password hash), in
//! the same step as the check, so concurrent attempts cannot all pass the
//! check first; a login that turns out right is forgiven afterwards.
//!
//! Where the counts live depends on the store. On a database that several
//! replicas share (PostgreSQL) they are kept in it (`ledger.rs`, through
//! the store's attempt ledger), so the limit holds whatever the replica
//! count. Otherwise (SQLite, one process) they live in memory
//! (`memory.rs`).
//!
//! This file is the policy: the settings, the limits of the API and how a
//! login counts against two of them, and the window arithmetic both
//! counters share.

mod ledger;
mod memory;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::store::{Db, StoreError};
use ledger::Shared;
use memory::RateLimiter;

/// Slices per window.
const BUCKETS: u64 = 10;

/// Slices counted: the current one and the `BUCKETS` before it, so the
/// counted span always covers the last whole window.
const RING: usize = BUCKETS as usize + 1;

/// An attempt counted by [`Limit::acquire`]; give it to [`Limit::forgive`]
/// to take it back.
#[derive(Clone, Copy, Debug)]
pub struct Ticket {
    /// The slice the attempt was counted in.
    slice: u64,
}

/// Whole seconds until enough of the oldest `slices` (slice number and
/// count, oldest first, `total` in all) have left the span for one more
/// attempt under `max`; at least 1. `since` is the time since slice 0
/// began.
fn wait_secs(
    slices: impl IntoIterator<Item = (u64, u64)>,
    total: u64,
    max: u32,
    slice_len: Duration,
    since: Duration,
) -> u64 {
    let mut left = total;
    for (slice, count) in slices {
        left = left.saturating_sub(count);
        if left < u64::from(max) {
            // Slice `slice` stops counting when slice `slice + RING` begins.
            let free_at = slice_len.as_secs_f64() * (slice + RING as u64) as f64;
            return (free_at - since.as_secs_f64()).ceil().max(1.0) as u64;
        }
    }
    // A limit of 0 never lets anything through.
    (slice_len * RING as u32).as_secs().max(1)
}

/// The longest window: a week keeps every slice's arithmetic far from
/// overflowing and is longer than any sensible lockout.
const MAX_WINDOW_SECS: u64 = 7 * 24 * 3600;

/// Sliding-window limits over `window_secs`; 429 beyond them.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub window_secs: u64,
    /// Failed logins for one email.
    pub login_failures_per_email: u32,
    /// Failed logins from one client address.
    pub login_failures_per_address: u32,
    /// Registrations from one client address.
    pub registrations_per_address: u32,
}

impl LimitsConfig {
    /// Errors name the setting, e.g. `limits.window_secs: must be at least 1`.
    pub fn validate(&self) -> Result<(), String> {
        if self.window_secs == 0 {
            return Err("limits.window_secs: must be at least 1".into());
        }
        if self.window_secs > MAX_WINDOW_SECS {
            return Err(format!(
                "limits.window_secs: at most {MAX_WINDOW_SECS} (a week)"
            ));
        }
        Ok(())
    }
}

/// Why an attempt may not go ahead.
#[derive(Debug)]
pub enum LimitError {
    /// The budget is used up; retry after this many seconds.
    Exceeded(u64),
    /// The shared counts could not be reached.
    Store(StoreError),
}

impl From<StoreError> for LimitError {
    fn from(e: StoreError) -> Self {
        LimitError::Store(e)
    }
}

/// One limit, counted in memory or in the shared database.
pub struct Limit {
    counter: Counter,
}

enum Counter {
    Memory(RateLimiter),
    Shared(Shared),
}

impl Limit {
    fn new(
        name: &'static str,
        max: u32,
        window: Duration,
        shared: Option<&(Db, Arc<[u8]>)>,
    ) -> Self {
        let counter = match shared {
            None => Counter::Memory(RateLimiter::new(max, window)),
            Some((db, pepper)) => Counter::Shared(Shared::new(db, pepper, name, max, window)),
        };
        Limit { counter }
    }

    /// Counts one attempt for `key`, or refuses it when the key's budget
    /// is used up.
    pub async fn acquire(&self, key: &str) -> Result<Ticket, LimitError> {
        match &self.counter {
            Counter::Memory(limiter) => limiter.acquire(key).map_err(LimitError::Exceeded),
            Counter::Shared(shared) => shared.acquire(key).await,
        }
    }

    /// Takes back an attempt that should not count.
    pub async fn forgive(&self, key: &str, ticket: Ticket) {
        match &self.counter {
            Counter::Memory(limiter) => limiter.forgive(key, ticket),
            Counter::Shared(shared) => shared.forgive(key, ticket).await,
        }
    }

    /// [`Limit::forgive`] from a place that cannot wait (a `Drop`): shared
    /// counts are corrected in the background.
    fn forgive_soon(&self, key: &str, ticket: Ticket) {
        match &self.counter {
            Counter::Memory(limiter) => limiter.forgive(key, ticket),
            Counter::Shared(shared) => {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    let (shared, key) = (shared.clone(), key.to_owned());
                    runtime.spawn(async move { shared.forgive(&key, ticket).await });
                }
            }
        }
    }
}

/// The three limits of the API.
pub struct Limits {
    pub login_failures_per_email: Limit,
    pub login_failures_per_address: Limit,
    pub registrations_per_address: Limit,
}

impl Limits {
    /// Limits counted in this process's memory (one process per database).
    pub fn in_memory(config: &LimitsConfig) -> Self {
        Limits::new(config, None)
    }

    /// Limits counted in the database `db`, shared by every process using
    /// it; keys are digested with `pepper` (a secret the replicas share).
    pub fn shared(config: &LimitsConfig, db: &Db, pepper: &[u8]) -> Self {
        Limits::new(config, Some(&(db.clone(), Arc::from(pepper))))
    }

    fn new(config: &LimitsConfig, shared: Option<&(Db, Arc<[u8]>)>) -> Self {
        let window = Duration::from_secs(config.window_secs);
        Limits {
            login_failures_per_email: Limit::new(
                "login_failures_per_email",
                config.login_failures_per_email,
                window,
                shared,
            ),
            login_failures_per_address: Limit::new(
                "login_failures_per_address",
                config.login_failures_per_address,
                window,
                shared,
            ),
            registrations_per_address: Limit::new(
                "registrations_per_address",
                config.registrations_per_address,
                window,
                shared,
            ),
        }
    }

    /// Counts a login attempt against its client address, then its email,
    /// before the password is checked. The attempt stays counted only if
    /// [`LoginAttempt::failed`] is called; [`LoginAttempt::succeeded`]
    /// takes it back, and so does dropping it (the guess was never checked,
    /// or the request went away).
    pub async fn begin_login<'a>(
        &'a self,
        email_key: &'a str,
        client: &'a str,
    ) -> Result<LoginAttempt<'a>, LimitError> {
        // The address first: a client already refused adds no count under
        // yet another email.
        let mut attempt = LoginAttempt {
            limits: self,
            email_key,
            client,
            address: Some(self.login_failures_per_address.acquire(client).await?),
            email: None,
        };
        match self.login_failures_per_email.acquire(email_key).await {
            Ok(ticket) => attempt.email = Some(ticket),
            Err(refused) => {
                attempt.take_back().await;
                return Err(refused);
            }
        }
        Ok(attempt)
    }
}

/// A login attempt counted against the login limits. Each ticket is held
/// until taken back, so a request dropped at any await leaves its `Drop`
/// to take back what is still held.
pub struct LoginAttempt<'a> {
    limits: &'a Limits,
    email_key: &'a str,
    client: &'a str,
    address: Option<Ticket>,
    email: Option<Ticket>,
}

impl LoginAttempt<'_> {
    /// The password was wrong (or the email unknown): keep it counted.
    pub fn failed(mut self) {
        self.address = None;
        self.email = None;
    }

    /// The password was right: take the attempt back before answering, so
    /// the next attempt already sees it gone.
    pub async fn succeeded(mut self) {
        self.take_back().await;
    }

    async fn take_back(&mut self) {
        if let Some(ticket) = self.email {
            let limit = &self.limits.login_failures_per_email;
            limit.forgive(self.email_key, ticket).await;
            self.email = None;
        }
        if let Some(ticket) = self.address {
            let limit = &self.limits.login_failures_per_address;
            limit.forgive(self.client, ticket).await;
            self.address = None;
        }
    }
}

impl Drop for LoginAttempt<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.email.take() {
            let limit = &self.limits.login_failures_per_email;
            limit.forgive_soon(self.email_key, ticket);
        }
        if let Some(ticket) = self.address.take() {
            let limit = &self.limits.login_failures_per_address;
            limit.forgive_soon(self.client, ticket);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_login_is_forgiven_unless_it_failed() {
        let limits = Limits::in_memory(&LimitsConfig {
            window_secs: 600,
            login_failures_per_email: 2,
            login_failures_per_address: 100,
            registrations_per_address: 1,
        });
        for _ in 0..3 {
            // Right passwords (and guesses never checked) do not add up.
            let attempt = limits.begin_login("jake@x", "10.0.0.1").await.unwrap();
            attempt.succeeded().await;
            drop(limits.begin_login("jake@x", "10.0.0.1").await.unwrap());
        }
        limits
            .begin_login("jake@x", "10.0.0.1")
            .await
            .unwrap()
            .failed();
        limits
            .begin_login("jake@x", "10.0.0.1")
            .await
            .unwrap()
            .failed();
        assert!(limits.begin_login("jake@x", "10.0.0.1").await.is_err());
        assert!(limits.begin_login("amy@x", "10.0.0.1").await.is_ok());
    }

    #[tokio::test]
    async fn an_address_refusal_does_not_count_against_the_email() {
        let limits = Limits::in_memory(&LimitsConfig {
            window_secs: 600,
            login_failures_per_email: 1,
            login_failures_per_address: 1,
            registrations_per_address: 1,
        });
        limits
            .begin_login("a@x", "10.0.0.1")
            .await
            .unwrap()
            .failed();
        assert!(
            limits.begin_login("b@x", "10.0.0.1").await.is_err(),
            "address used up"
        );
        assert!(
            limits.begin_login("b@x", "10.0.0.2").await.is_ok(),
            "b's budget untouched by the refusal"
        );
    }
}
