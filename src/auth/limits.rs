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
//! replicas share (PostgreSQL) they are kept in it ([`AttemptLedger`]), so
//! the limit holds whatever the replica count. Otherwise (SQLite, one
//! process) they live in memory ([`RateLimiter`]): the map is bounded; when
//! full, expired entries are dropped first, and if none are expired new
//! keys are not tracked (failing open keeps the service up under a flood
//! of distinct keys).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::attempts::{AttemptCounts, AttemptKey, AttemptLedger};
use crate::store::{Db, StoreError, StoreResult};

/// Keys tracked at most per limiter.
const MAX_KEYS: usize = 100_000;

/// Slices per window.
const BUCKETS: u64 = 10;

/// Slices counted: the current one and the `BUCKETS` before it, so the
/// counted span always covers the last whole window.
const RING: usize = BUCKETS as usize + 1;

/// One key's counts per slice; `ring[i % RING]` holds slice `i`.
#[derive(Clone, Copy, Debug)]
struct Counts {
    /// The newest slice written.
    newest: u64,
    ring: [u32; RING],
}

impl Counts {
    /// Moves forward to slice `now`, dropping the slices that left the span.
    fn roll(&mut self, now: u64) {
        if now <= self.newest {
            return;
        }
        if now - self.newest >= RING as u64 {
            self.ring = [0; RING];
        } else {
            for slice in self.newest + 1..=now {
                self.ring[slice as usize % RING] = 0;
            }
        }
        self.newest = now;
    }

    fn total(&self) -> u64 {
        self.ring.iter().map(|&c| u64::from(c)).sum()
    }

    /// Whether `slice` is still counted.
    fn holds(&self, slice: u64) -> bool {
        slice <= self.newest && self.newest - slice < RING as u64
    }
}

pub struct RateLimiter {
    max: u32,
    /// One slice of the window.
    slice: Duration,
    /// Slices are numbered from here.
    epoch: Instant,
    counts: Mutex<HashMap<String, Counts>>,
}

/// An attempt counted by [`RateLimiter::acquire`]; give it to
/// [`RateLimiter::forgive`] to take it back.
#[derive(Clone, Copy, Debug)]
pub struct Ticket {
    slice: u64,
}

impl RateLimiter {
    pub fn new(max: u32, window: Duration) -> Self {
        RateLimiter {
            max,
            slice: (window / BUCKETS as u32).max(Duration::from_millis(1)),
            epoch: Instant::now(),
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one attempt for `key`, or refuses it with the seconds to wait
    /// (at least 1) when the key's budget is used up.
    pub fn acquire(&self, key: &str) -> Result<Ticket, u64> {
        self.acquire_at(key, Instant::now())
    }

    /// Takes back an attempt that should not count (a right password).
    pub fn forgive(&self, key: &str, ticket: Ticket) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = counts.get_mut(key) {
            if c.holds(ticket.slice) {
                let count = &mut c.ring[ticket.slice as usize % RING];
                *count = count.saturating_sub(1);
            }
        }
    }

    fn acquire_at(&self, key: &str, now: Instant) -> Result<Ticket, u64> {
        let since = now.saturating_duration_since(self.epoch);
        let slice = (since.as_nanos() / self.slice.as_nanos()) as u64;
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if !counts.contains_key(key) && counts.len() >= MAX_KEYS {
            counts.retain(|_, c| slice - c.newest.min(slice) < RING as u64);
            if counts.len() >= MAX_KEYS {
                return Ok(Ticket { slice });
            }
        }
        let entry = counts.entry(key.to_owned()).or_insert(Counts {
            newest: slice,
            ring: [0; RING],
        });
        entry.roll(slice);
        if entry.total() + 1 > u64::from(self.max) {
            return Err(self.wait(entry, since));
        }
        let count = &mut entry.ring[slice as usize % RING];
        *count = count.saturating_add(1);
        Ok(Ticket { slice })
    }

    fn wait(&self, c: &Counts, since: Duration) -> u64 {
        let oldest = c.newest.saturating_sub(BUCKETS);
        let slices =
            (oldest..=c.newest).map(|slice| (slice, u64::from(c.ring[slice as usize % RING])));
        wait_secs(slices, c.total(), self.max, self.slice, since)
    }
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

/// A limit whose counts live in the database every replica uses.
#[derive(Clone)]
struct Shared {
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

    async fn acquire(&self, key: &str) -> Result<Ticket, LimitError> {
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

    async fn forgive(&self, key: &str, ticket: Ticket) {
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

fn ledger(store: &dyn crate::store::Store) -> StoreResult<&dyn AttemptLedger> {
    store
        .attempt_ledger()
        .ok_or_else(|| StoreError::Backend("this store keeps no shared attempt counts".into()))
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
            Some((db, pepper)) => Counter::Shared(Shared {
                db: db.clone(),
                pepper: Arc::clone(pepper),
                name,
                max,
                slice_ms: ((window / BUCKETS as u32).as_millis() as i64).max(1),
            }),
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

    const WINDOW: Duration = Duration::from_secs(100);

    fn at(limiter: &RateLimiter, secs: f64) -> Instant {
        limiter.epoch + Duration::from_secs_f64(secs)
    }

    #[test]
    fn a_burst_gets_exactly_the_limit_through() {
        let limiter = RateLimiter::new(3, WINDOW);
        let now = at(&limiter, 10.0);
        for _ in 0..3 {
            assert!(limiter.acquire_at("a", now).is_ok());
        }
        assert!(limiter.acquire_at("a", now).is_err(), "fourth refused");
        assert!(
            limiter.acquire_at("b", now).is_ok(),
            "other keys unaffected"
        );
    }

    #[test]
    fn no_span_of_one_window_gets_more_than_the_limit() {
        let limiter = RateLimiter::new(10, WINDOW);
        for _ in 0..10 {
            limiter.acquire_at("a", at(&limiter, 99.0)).unwrap();
        }
        // A fixed window would allow ten more just after its edge at 100 s.
        for secs in [100.5, 150.0, 195.0, 199.9] {
            assert!(
                limiter.acquire_at("a", at(&limiter, secs)).is_err(),
                "{secs} s: the ten of 99 s still count"
            );
        }
        // They stop counting with their slice, at most a slice late.
        for _ in 0..10 {
            assert!(limiter.acquire_at("a", at(&limiter, 200.0)).is_ok());
        }
    }

    #[test]
    fn the_budget_comes_back_a_slice_at_a_time() {
        let limiter = RateLimiter::new(10, WINDOW);
        for _ in 0..5 {
            limiter.acquire_at("a", at(&limiter, 5.0)).unwrap();
        }
        for _ in 0..5 {
            limiter.acquire_at("a", at(&limiter, 55.0)).unwrap();
        }
        let wait = limiter.acquire_at("a", at(&limiter, 105.0)).unwrap_err();
        assert_eq!(wait, 5, "the slice of 5 s leaves the span at 110 s");
        let allowed = (0..10)
            .filter(|_| limiter.acquire_at("a", at(&limiter, 110.0)).is_ok())
            .count();
        assert_eq!(allowed, 5, "the five of 5 s are back, not those of 55 s");
        let wait = limiter.acquire_at("a", at(&limiter, 110.0)).unwrap_err();
        assert_eq!(wait, 50, "the slice of 55 s leaves the span at 160 s");
    }

    #[test]
    fn the_wait_is_at_least_a_second() {
        let limiter = RateLimiter::new(1, Duration::from_secs(600));
        limiter.acquire("a").unwrap();
        let wait = limiter.acquire("a").unwrap_err();
        assert!((1..=660).contains(&wait), "{wait}");
    }

    #[test]
    fn a_forgiven_attempt_frees_its_place() {
        let limiter = RateLimiter::new(2, WINDOW);
        let now = at(&limiter, 1.0);
        let first = limiter.acquire_at("a", now).unwrap();
        limiter.acquire_at("a", now).unwrap();
        assert!(limiter.acquire_at("a", now).is_err());
        limiter.forgive("a", first);
        assert!(limiter.acquire_at("a", now).is_ok());
    }

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
