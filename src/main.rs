//! The `conduit` binary: everything lives in the library; this only picks the
//! allocator and hands over the process exit code.

/// Small blocks from mimalloc, large ones from the system: see
/// `conduit::allocator` for why.
#[global_allocator]
static ALLOCATOR: conduit::allocator::SplitAllocator = conduit::allocator::SplitAllocator;

fn main() -> std::process::ExitCode {
    conduit::cli::run()
}
