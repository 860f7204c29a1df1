//! The `conduit` binary: everything lives in the library; this only hands over
//! the process exit code.

/// musl's allocator serializes threads on one lock; under load the server
/// spent most of its time in futex waits (see BENCHMARKS.md). mimalloc keeps
/// per-thread heaps.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    conduit::cli::run()
}
