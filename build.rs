//! Bakes the git revision into the binary for `conduit --version`.
//! `CONDUIT_GIT_REVISION` wins when set (pipelines building from a tarball).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CONDUIT_GIT_REVISION");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs");
    let revision = std::env::var("CONDUIT_GIT_REVISION")
        .ok()
        .filter(|r| !r.is_empty())
        .or_else(|| {
            Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=CONDUIT_GIT_REVISION={revision}");
}
