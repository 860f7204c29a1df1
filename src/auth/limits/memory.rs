//! Counts kept in this process's memory, for a database only this process
//! uses. The map is bounded: when full, expired entries are dropped first,
//! and if none are expired new keys are not tracked (failing open keeps the
//! service up under a flood of distinct keys).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{wait_secs, Ticket, BUCKETS, RING};

/// Keys tracked at most per limiter.
const MAX_KEYS: usize = 100_000;

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
}
