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
//! Counters live in memory, per process: with several replicas a client
//! gets at most replicas × limit attempts, which still stops brute force.
//! The map is bounded; when full, expired entries are dropped first, and if
//! none are expired new keys are not tracked (failing open keeps the
//! service up under a flood of distinct keys).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

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

    /// Whole seconds until enough old slices have left the span for one
    /// more attempt, at least 1.
    fn wait(&self, c: &Counts, since: Duration) -> u64 {
        let mut left = c.total();
        let oldest = c.newest.saturating_sub(BUCKETS);
        for slice in oldest..=c.newest {
            left -= u64::from(c.ring[slice as usize % RING]);
            if left < u64::from(self.max) {
                // Slice `slice` stops counting when slice `slice + RING` begins.
                let free_at = self.slice.as_secs_f64() * (slice + RING as u64) as f64;
                return (free_at - since.as_secs_f64()).ceil().max(1.0) as u64;
            }
        }
        // A limit of 0 never lets anything through.
        (self.slice * RING as u32).as_secs().max(1)
    }
}

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
        Ok(())
    }
}

/// The three limits of the API.
pub struct Limits {
    pub login_failures_per_email: RateLimiter,
    pub login_failures_per_address: RateLimiter,
    pub registrations_per_address: RateLimiter,
}

impl Limits {
    pub fn new(config: &LimitsConfig) -> Self {
        let window = Duration::from_secs(config.window_secs);
        Limits {
            login_failures_per_email: RateLimiter::new(config.login_failures_per_email, window),
            login_failures_per_address: RateLimiter::new(config.login_failures_per_address, window),
            registrations_per_address: RateLimiter::new(config.registrations_per_address, window),
        }
    }

    /// Counts a login attempt against its email and its client address
    /// before the password is checked. The attempt stays counted only if
    /// [`LoginAttempt::failed`] is called; otherwise (right password, or the
    /// guess was never checked) it is forgiven when dropped.
    pub fn begin_login<'a>(
        &'a self,
        email_key: &'a str,
        client: &'a str,
    ) -> Result<LoginAttempt<'a>, u64> {
        let email = self.login_failures_per_email.acquire(email_key)?;
        let address = match self.login_failures_per_address.acquire(client) {
            Ok(ticket) => ticket,
            Err(wait) => {
                self.login_failures_per_email.forgive(email_key, email);
                return Err(wait);
            }
        };
        Ok(LoginAttempt {
            limits: self,
            email_key,
            client,
            tickets: Some((email, address)),
        })
    }
}

/// A login attempt counted against both login limits.
pub struct LoginAttempt<'a> {
    limits: &'a Limits,
    email_key: &'a str,
    client: &'a str,
    tickets: Option<(Ticket, Ticket)>,
}

impl LoginAttempt<'_> {
    /// The password was wrong (or the email unknown): keep it counted.
    pub fn failed(mut self) {
        self.tickets = None;
    }
}

impl Drop for LoginAttempt<'_> {
    fn drop(&mut self) {
        if let Some((email, address)) = self.tickets.take() {
            let limits = self.limits;
            limits
                .login_failures_per_email
                .forgive(self.email_key, email);
            limits
                .login_failures_per_address
                .forgive(self.client, address);
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
    fn a_login_is_forgiven_unless_it_failed() {
        let limits = Limits::new(&LimitsConfig {
            window_secs: 600,
            login_failures_per_email: 2,
            login_failures_per_address: 100,
            registrations_per_address: 1,
        });
        for _ in 0..5 {
            // Right passwords (and guesses never checked) do not add up.
            drop(limits.begin_login("jake@x", "10.0.0.1").unwrap());
        }
        limits.begin_login("jake@x", "10.0.0.1").unwrap().failed();
        limits.begin_login("jake@x", "10.0.0.1").unwrap().failed();
        assert!(limits.begin_login("jake@x", "10.0.0.1").is_err());
        assert!(limits.begin_login("amy@x", "10.0.0.1").is_ok());
    }

    #[test]
    fn an_address_refusal_does_not_count_against_the_email() {
        let limits = Limits::new(&LimitsConfig {
            window_secs: 600,
            login_failures_per_email: 1,
            login_failures_per_address: 1,
            registrations_per_address: 1,
        });
        limits.begin_login("a@x", "10.0.0.1").unwrap().failed();
        assert!(
            limits.begin_login("b@x", "10.0.0.1").is_err(),
            "address used up"
        );
        assert!(
            limits.begin_login("b@x", "10.0.0.2").is_ok(),
            "b's budget untouched by the refusal"
        );
    }
}
