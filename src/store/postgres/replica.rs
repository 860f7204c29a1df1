//! The read pool: connections to a read replica (CloudNativePG's `-ro`
//! service in clusters), used by reads once the replica has replayed what
//! their reader wrote. See `store/reads.rs` for the design.
//!
//! The replica is never needed: a read it cannot serve in time, or at all,
//! runs on the primary. After a failure it is left alone for a moment, so
//! a dead replica costs one failed attempt per [`REST`], not one per read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use r2d2::{Pool, PooledConnection};

use super::{Manager, PgConnection, Session};
use crate::store::{StoreResult, WalPosition};
use crate::telemetry::metrics::METRICS;

/// How long the replica is left alone after a failure.
const REST: Duration = Duration::from_secs(1);

/// Between two looks at the replica's position while waiting for it.
const POLL: Duration = Duration::from_millis(2);

/// How far the replica has replayed, as a number (NULL on a server that is
/// not in recovery: a primary has everything).
const REPLAYED: &str = "SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint";

pub(super) struct ReadPool {
    pool: Pool<Manager>,
    /// How long a read waits for the replica to replay its reader's writes.
    wait: Duration,
    started: Instant,
    /// Until when (ms after `started`) the replica is left alone; 0 when
    /// it is in use.
    resting_until: AtomicU64,
}

impl ReadPool {
    /// Opens connections on demand: a replica that is down at start only
    /// sends reads to the primary until it is up.
    pub(super) fn new(manager: Manager, max_size: u32, wait: Duration) -> ReadPool {
        let pool = Pool::builder()
            .max_size(max_size)
            .min_idle(Some(0))
            .test_on_check_out(false)
            // A read waits this long for a replica connection before it
            // goes to the primary: a little, never a request's worth.
            .connection_timeout(Duration::from_millis(250))
            .build_unchecked(manager);
        ReadPool {
            pool,
            wait,
            started: Instant::now(),
            resting_until: AtomicU64::new(0),
        }
    }

    /// A replica connection that has replayed `after` (any, without it),
    /// or `None` when the replica is resting, unreachable or still behind
    /// after [`ReadPool::wait`]: the read then runs on the primary.
    pub(super) fn checkout(&self, after: Option<WalPosition>) -> Option<PooledConnection<Manager>> {
        if self.now_ms() < self.resting_until.load(Ordering::Relaxed) {
            count("unavailable");
            return None;
        }
        let mut conn = match crate::store::checkout(&self.pool) {
            Ok(conn) => conn,
            Err(error) => {
                self.rest(&error.report());
                return None;
            }
        };
        let Some(after) = after else {
            return Some(conn);
        };
        match caught_up(&mut conn, after, self.wait) {
            Ok(true) => Some(conn),
            Ok(false) => {
                count("lagging");
                None
            }
            Err(error) => {
                self.rest(&error.report());
                None
            }
        }
    }

    /// After a failed connection or query: reads go to the primary for a
    /// moment.
    pub(super) fn rest(&self, cause: &str) {
        count("unavailable");
        let until = self.now_ms() + REST.as_millis() as u64;
        if self.resting_until.swap(until, Ordering::Relaxed) < self.now_ms() {
            tracing::warn!(%cause, "read replica unavailable; reading from the primary");
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

/// Counts where a read that could use the replica ran.
pub(super) fn count(outcome: &str) {
    METRICS.replica_reads.with_label_values(&[outcome]).inc();
}

/// Whether the replica behind `conn` has replayed `after`, waiting up to
/// `wait` for it. The position last seen on a connection is kept, so a
/// replica known to be ahead costs no query.
fn caught_up(conn: &mut PgConnection, after: WalPosition, wait: Duration) -> StoreResult<bool> {
    let deadline = Instant::now() + wait;
    loop {
        if conn.replayed >= after.0 {
            return Ok(true);
        }
        let PgConnection {
            client, statements, ..
        } = conn;
        let replayed: Option<i64> = Session { client, statements }.one(REPLAYED, &[])?.get(0);
        conn.replayed = replayed.map_or(u64::MAX, |lsn| lsn as u64);
        if conn.replayed >= after.0 {
            return Ok(true);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        // On the blocking pool: the thread is this read's own.
        std::thread::sleep((deadline - now).min(POLL));
    }
}
