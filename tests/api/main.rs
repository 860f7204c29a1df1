//! The HTTP and storage suites: one test binary, each test against a real
//! server bound to 127.0.0.1:0 with its own database file.
//!
//! HTTP tests are plain `async fn(TestApp)` functions; `http_tests!` turns
//! them into `#[tokio::test]`s per backend, and `store_tests!` does the same
//! for the storage conformance suite over `&dyn Store`.

#[macro_use]
mod helpers;

mod articles;
mod cli;
mod comments;
mod concurrency;
mod faults;
mod layering;
mod ops;
mod pg_only;
mod profiles;
mod readers;
mod store_suite;
mod tags;
mod traces;
mod users;
mod web;
mod wire;
