//! The engine against the sandbox Graph emulator, in process and through the binary: end to end
//! runs, the credential lifecycle, the fault and crash matrices, and the properties of the diff
//! and of the manifest's round trip.
//!
//! One test binary for the group (see tests/cli/main.rs). The long matrices:
//! `APPREG_LONG=1 cargo test --release --test engine fault_matrix -- --nocapture`.

#[path = "../support/convergence.rs"]
mod convergence;
#[path = "../support/crash.rs"]
mod crash;
#[path = "../support/manifest_gen.rs"]
mod manifest_gen;
#[path = "../support/raw.rs"]
mod raw;
#[path = "../support/tenant.rs"]
mod tenant;

mod crash_matrix;
mod credentials;
mod diff_properties;
mod e2e;
mod fault_matrix;
mod fuzz_regressions;
mod manifest_roundtrip;
