//! What every handler may use: the shared [`Ctx`], one per listener,
//! behind one `Arc` in each request.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::site::SiteConfig;
use crate::auth::jwt::Tokens;
use crate::auth::limits::Limits;
use crate::auth::password::Passwords;
use crate::store::Db;

/// The store, the keys, the limits and the settings handlers read; cheap
/// to clone.
#[derive(Clone)]
pub struct Ctx {
    pub db: Db,
    pub tokens: Arc<Tokens>,
    pub passwords: Passwords,
    pub limits: Arc<Limits>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: u64,
    /// Set once shutdown begins: `/readyz` then fails so traffic moves away.
    pub draining: Arc<AtomicBool>,
    /// The schema version this release needs (readiness checks it).
    pub schema_needed: i64,
    /// The web app's base path and cookie policy.
    pub site: SiteConfig,
}
