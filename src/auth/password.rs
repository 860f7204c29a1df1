//! Password hashing with scrypt, in PHC string format.
//!
//! Hashing costs tens of milliseconds and tens of MiB by design, so it runs
//! on a small pool of threads of its own (one per permitted hash), and a
//! semaphore (one permit per core by default) bounds how many hashes run at
//! once: a burst of logins queues instead of exhausting memory. Own threads
//! rather than tokio's blocking pool, whose many threads would each keep
//! their allocator's cache of a 32 MiB scrypt buffer; and at most `queue` more may wait for a permit: beyond that a
//! request is refused at once (503) rather than holding memory and a
//! connection while it waits. Verification of an unknown account runs against a dummy hash, so
//! the response time does not reveal which emails exist.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Instant;

use scrypt::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use scrypt::{Params, Scrypt};
use tokio::sync::Semaphore;

use serde::{Deserialize, Serialize};

use crate::telemetry::metrics::METRICS;

/// scrypt cost parameters for new hashes (the `scrypt` settings).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ScryptConfig {
    pub log_n: u8,
    pub r: u32,
    pub p: u32,
}

impl ScryptConfig {
    /// Errors name the setting, e.g. `scrypt.log_n: must be between 1 and 20`.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=20).contains(&self.log_n) {
            return Err("scrypt.log_n: must be between 1 and 20".into());
        }
        if Params::new(self.log_n, self.r, self.p, Params::RECOMMENDED_LEN).is_err() {
            return Err("scrypt: r and p out of range".into());
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every permit is taken and the wait queue is full.
    #[error("too many password hashes queued")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

type Job = Box<dyn FnOnce() + Send>;

/// Starts `threads` threads that run hashing jobs until the sender is gone.
fn hashing_threads(threads: usize) -> Result<mpsc::Sender<Job>, HashError> {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for i in 0..threads {
        let receiver = Arc::clone(&receiver);
        std::thread::Builder::new()
            .name(format!("conduit-hash-{i}"))
            .spawn(move || loop {
                let job = match receiver.lock() {
                    Ok(guard) => guard.recv(),
                    Err(_) => return,
                };
                match job {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            })
            .map_err(|e| HashError::Failed(format!("cannot start hashing threads: {e}")))?;
    }
    Ok(sender)
}

#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    /// Jobs for the hashing threads.
    jobs: Mutex<mpsc::Sender<Job>>,
    /// Permits for concurrent hashes: one per core unless configured.
    permits: Arc<Semaphore>,
    /// Callers waiting for a permit now, and how many may.
    waiting: AtomicUsize,
    queue: usize,
    /// A hash of a random password, made on first use with the same
    /// parameters as real ones, so a miss costs what a hit costs.
    dummy: OnceLock<String>,
}

impl Passwords {
    /// `concurrency` hashes at once (default: one per CPU), `queue` waiting.
    pub fn new(
        config: ScryptConfig,
        concurrency: Option<usize>,
        queue: usize,
    ) -> Result<Self, HashError> {
        let params = Params::new(config.log_n, config.r, config.p, Params::RECOMMENDED_LEN)
            .map_err(|e| HashError::Failed(e.to_string()))?;
        let permits = concurrency
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        Ok(Passwords {
            inner: Arc::new(Inner {
                params,
                jobs: Mutex::new(hashing_threads(permits)?),
                permits: Arc::new(Semaphore::new(permits)),
                waiting: AtomicUsize::new(0),
                queue,
                dummy: OnceLock::new(),
            }),
        })
    }

    /// Hashes `password` with a fresh salt.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let inner = Arc::clone(&self.inner);
        self.blocking(move || inner.hash(&password)).await?
    }

    /// True when `password` matches `hash`; with no hash (unknown account)
    /// it checks against the dummy and returns false.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, HashError> {
        let inner = Arc::clone(&self.inner);
        self.blocking(move || match hash {
            Some(hash) => inner.verify(&password, &hash),
            None => {
                let dummy = match inner.dummy.get() {
                    Some(d) => d.clone(),
                    None => {
                        let made = inner.hash("dummy password for unknown accounts")?;
                        inner.dummy.get_or_init(|| made).clone()
                    }
                };
                inner.verify(&password, &dummy).map(|_| false)
            }
        })
        .await?
    }

    /// Runs `f` on a hashing thread, within its span: the wait for a
    /// hashing slot and the hash itself.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        use tracing::Instrument;
        let span = match crate::telemetry::request_tag::traced() {
            true => tracing::trace_span!("password.hash"),
            false => tracing::Span::none(),
        };
        self.on_hashing_thread(f, span.clone())
            .instrument(span)
            .await
    }

    async fn on_hashing_thread<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
        span: tracing::Span,
    ) -> Result<T, HashError> {
        let permits = Arc::clone(&self.inner.permits);
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // The guard leaves the queue even when this future is dropped
                // (the client went away): a leaked count would refuse every
                // later login as "busy".
                let Some(_waiting) = QueueSlot::take(&self.inner.waiting, self.inner.queue) else {
                    METRICS.hash_rejected.inc();
                    return Err(HashError::Busy);
                };
                let started = Instant::now();
                let permit = permits.acquire_owned().await;
                METRICS.hash_wait.observe(started.elapsed().as_secs_f64());
                permit.map_err(|e| HashError::Failed(e.to_string()))?
            }
        };
        // As many threads as permits: a permitted job never waits.
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let work = crate::telemetry::request_tag::carried(move || span.in_scope(f));
        let job: Job = Box::new(move || {
            let _permit = permit;
            let _ = done_tx.send(work());
        });
        self.inner
            .jobs
            .lock()
            .map_err(|_| HashError::Failed("hashing threads lock poisoned".into()))?
            .send(job)
            .map_err(|_| HashError::Failed("hashing threads are gone".into()))?;
        done_rx
            .await
            .map_err(|_| HashError::Failed("a hashing job was dropped".into()))
    }
}

/// A place in the wait queue, given back on drop.
struct QueueSlot<'a> {
    waiting: &'a AtomicUsize,
}

impl<'a> QueueSlot<'a> {
    /// A place, unless `queue` callers already wait.
    fn take(waiting: &'a AtomicUsize, queue: usize) -> Option<Self> {
        if waiting.fetch_add(1, Ordering::SeqCst) >= queue {
            waiting.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        METRICS.hash_queue_depth.inc();
        Some(QueueSlot { waiting })
    }
}

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        METRICS.hash_queue_depth.dec();
    }
}

impl Inner {
    fn hash(&self, password: &str) -> Result<String, HashError> {
        let salt_bytes: [u8; 16] = rand::random();
        let salt =
            SaltString::encode_b64(&salt_bytes).map_err(|e| HashError::Failed(e.to_string()))?;
        Scrypt
            .hash_password_customized(password.as_bytes(), None, None, self.params, &salt)
            .map(|h| h.to_string())
            .map_err(|e| HashError::Failed(e.to_string()))
    }

    fn verify(&self, password: &str, hash: &str) -> Result<bool, HashError> {
        let parsed = PasswordHash::new(hash).map_err(|e| HashError::Failed(e.to_string()))?;
        Ok(Scrypt.verify_password(password.as_bytes(), &parsed).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Passwords {
        Passwords::new(
            ScryptConfig {
                log_n: 4,
                r: 8,
                p: 1,
            },
            None,
            8,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_hash_verifies_only_its_own_password() {
        let passwords = cheap();
        let hash = passwords.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$scrypt$ln=4,r=8,p=1$"), "{hash}");
        assert!(passwords
            .verify("correct horse".into(), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!passwords
            .verify("wrong horse".into(), Some(hash))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn salts_differ_between_hashes() {
        let passwords = cheap();
        let a = passwords.hash("same".into()).await.unwrap();
        let b = passwords.hash("same".into()).await.unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn unknown_accounts_never_verify() {
        let passwords = cheap();
        assert!(!passwords.verify("anything".into(), None).await.unwrap());
        assert!(!passwords
            .verify("dummy password for unknown accounts".into(), None)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let passwords = Passwords::new(
            ScryptConfig {
                log_n: 12,
                r: 8,
                p: 1,
            },
            Some(1),
            1,
        )
        .unwrap();
        let burst: Vec<_> = (0..6)
            .map(|_| {
                let p = passwords.clone();
                tokio::spawn(async move { p.hash("password1".into()).await })
            })
            .collect();
        let mut busy = 0;
        for task in burst {
            if let Err(HashError::Busy) = task.await.unwrap() {
                busy += 1;
            }
        }
        assert!(busy >= 1, "one running, one waiting, the rest refused");
        assert!(
            passwords.hash("later".into()).await.is_ok(),
            "capacity comes back"
        );
    }

    #[tokio::test]
    async fn abandoned_waiters_give_their_place_back() {
        let passwords = Passwords::new(
            ScryptConfig {
                log_n: 12,
                r: 8,
                p: 1,
            },
            Some(1),
            2,
        )
        .unwrap();
        for _ in 0..5 {
            // Start a burst and drop it while requests wait for a permit.
            let burst: Vec<_> = (0..3)
                .map(|_| {
                    let p = passwords.clone();
                    tokio::spawn(async move { p.hash("password1".into()).await })
                })
                .collect();
            tokio::task::yield_now().await;
            for task in burst {
                task.abort();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(
            passwords.inner.waiting.load(Ordering::SeqCst),
            0,
            "no leaked places"
        );
        assert!(passwords.hash("after".into()).await.is_ok());
    }

    #[tokio::test]
    async fn hashes_made_with_other_parameters_still_verify() {
        let old = Passwords::new(
            ScryptConfig {
                log_n: 5,
                r: 8,
                p: 1,
            },
            None,
            8,
        )
        .unwrap();
        let hash = old.hash("password1".into()).await.unwrap();
        assert!(cheap()
            .verify("password1".into(), Some(hash))
            .await
            .unwrap());
    }
}
