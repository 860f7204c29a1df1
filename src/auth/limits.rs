//! Abuse limits: failed logins per email and per client address, and
//! registrations per address, each counted in a fixed window.
//!
//! Counters live in memory, per process: with several replicas a client
//! gets at most replicas × limit attempts, which still stops brute force.
//! The map is bounded; when full, expired entries are dropped first, and if
//! none are expired new keys are not tracked (failing open keeps the
//! service up under a flood of distinct keys).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked at most per limiter.
const MAX_KEYS: usize = 100_000;

pub struct RateLimiter {
    max: u32,
    window: Duration,
    /// key -> (window start, count in that window)
    counts: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn new(max: u32, window: Duration) -> Self {
        RateLimiter {
            max,
            window,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds to wait)` when `key` has used up its window.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let now = Instant::now();
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        match counts.get(key) {
            Some((start, count))
                if now.duration_since(*start) < self.window && *count >= self.max =>
            {
                let left = self.window - now.duration_since(*start);
                Err(left.as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    /// Counts one event for `key`.
    pub fn record(&self, key: &str) {
        let now = Instant::now();
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() >= MAX_KEYS && !counts.contains_key(key) {
            let window = self.window;
            counts.retain(|_, (start, _)| now.duration_since(*start) < window);
            if counts.len() >= MAX_KEYS {
                return;
            }
        }
        let entry = counts.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

/// The three limits of the API.
pub struct Limits {
    pub login_failures_per_email: RateLimiter,
    pub login_failures_per_address: RateLimiter,
    pub registrations_per_address: RateLimiter,
}

impl Limits {
    pub fn new(config: &crate::config::LimitsConfig) -> Self {
        let window = Duration::from_secs(config.window_secs);
        Limits {
            login_failures_per_email: RateLimiter::new(config.login_failures_per_email, window),
            login_failures_per_address: RateLimiter::new(config.login_failures_per_address, window),
            registrations_per_address: RateLimiter::new(config.registrations_per_address, window),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_refused_after_its_limit_until_the_window_ends() {
        let limiter = RateLimiter::new(3, Duration::from_millis(200));
        for _ in 0..3 {
            assert!(limiter.check("a").is_ok());
            limiter.record("a");
        }
        assert!(limiter.check("a").is_err(), "fourth attempt refused");
        assert!(limiter.check("b").is_ok(), "other keys unaffected");
        std::thread::sleep(Duration::from_millis(250));
        assert!(limiter.check("a").is_ok(), "a new window");
        limiter.record("a");
        assert!(limiter.check("a").is_ok());
    }

    #[test]
    fn the_wait_is_at_least_a_second() {
        let limiter = RateLimiter::new(1, Duration::from_secs(600));
        limiter.record("a");
        let wait = limiter.check("a").unwrap_err();
        assert!((1..=600).contains(&wait), "{wait}");
    }
}
