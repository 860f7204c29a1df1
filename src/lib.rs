//! Conduit: the RealWorld blogging API as one binary, on SQLite or PostgreSQL.
//!
//! # Layout
//!
//! - [`allocator`]: mimalloc for small blocks, the system for large ones.
//! - [`cli`]: the command line (`serve`, `migrate`, `config`) and exit codes.
//! - [`config`]: layered settings (defaults, `conduit.toml`, `CONDUIT_*`).
//! - [`telemetry`]: logs (the access log among them), metrics and traces.
//! - [`app`]: wires configuration, storage and the HTTP server together.
//! - [`server`]: connections, request ids, timeouts, load shedding, drain.
//! - [`http`]: warp routes, one module per resource, plus errors and extractors.
//! - [`web`]: the RealWorld web app, pages rendered on the server beside the API.
//! - [`domain`]: validated input types and the read models the API returns;
//!   knows neither warp nor SQL.
//! - [`auth`]: password hashing (scrypt), tokens (JWT) and abuse limits.
//! - [`store`]: the [`store::Store`] trait and its backends, plus migrations.
//!
//! # Layers
//!
//! Dependencies point one way. Each module may use only the modules named
//! after its arrow; the `layering` test reads this block and fails on any
//! other `crate::` path, so the map stays true. Configuration sits above
//! the components it configures: each component owns its settings' types
//! and checks, and [`config`] assembles them.
//!
//! ```text
//! allocator ->
//! domain    ->
//! telemetry ->
//! store     -> domain telemetry
//! auth      -> domain store telemetry
//! http      -> domain auth store telemetry
//! server    -> http telemetry
//! web       -> domain http store telemetry
//! config    -> auth http store telemetry
//! app       -> auth config http server store telemetry web
//! cli       -> app config store telemetry
//! ```

pub mod allocator;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod web;
