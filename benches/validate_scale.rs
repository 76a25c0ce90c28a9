//! How manifest validation scales: 50,000 apps in 500 files of 100 (the engine_scale app shape:
//! permissions on two APIs, admin consent, two assignments, a federated credential), loaded and
//! validated by `appreg::manifest::load` as `appreg validate` does, with no tenant.
//!
//! Reports wall time and this process's peak RSS (`VmHWM`, reset through `/proc/self/clear_refs`
//! before loading) against the bound of 3 s and 1 GiB; asserts only that the manifest is
//! valid. `APPREG_BENCH_APPS` overrides the 50,000 (`cargo bench --bench validate_scale`).

mod common;

use std::time::Instant;

const TARGET_SECONDS: f64 = 3.0;
const TARGET_BYTES: u64 = 1024 * 1024 * 1024;

fn main() {
    let apps: usize = std::env::var("APPREG_BENCH_APPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let (paths, bytes) = common::write_manifest(dir.path(), "scale", apps);
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let before = common::status_kb("VmRSS") * 1024;
    let started = Instant::now();
    let loaded = appreg::manifest::load(&paths, &|_: &str| None);
    let wall = started.elapsed().as_secs_f64();
    let peak = common::status_kb("VmHWM") * 1024;
    let state = match loaded {
        Ok(loaded) => loaded.state,
        Err(invalid) => {
            for d in invalid.diagnostics.iter().take(5) {
                eprintln!("{d:?}");
            }
            panic!("the generated manifest is invalid");
        }
    };
    assert_eq!(state.apps.len(), apps);
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!("# validate_scale\n");
    println!(
        "{apps} apps in {} files, {:.1} MiB of YAML ({} bytes per app; the run cap is {:.0} MiB).\n",
        paths.len(),
        mib(bytes),
        bytes / apps.max(1) as u64,
        mib(appreg::manifest::MAX_TOTAL_BYTES)
    );
    println!("| measure | value | target | met |");
    println!("|---|---:|---:|---|");
    println!(
        "| load and validate (wall) | {wall:.2} s | ≤ {TARGET_SECONDS:.0} s | {} |",
        if wall <= TARGET_SECONDS {
            "yes"
        } else {
            "**no**"
        }
    );
    println!(
        "| peak RSS while validating | {:.0} MiB (RSS before: {:.0} MiB) | ≤ 1024 MiB | {} |",
        mib(peak),
        mib(before),
        if peak <= TARGET_BYTES {
            "yes"
        } else {
            "**no**"
        }
    );
    println!(
        "| per app | {:.1} µs, {:.1} KiB peak | | |",
        wall * 1e6 / apps as f64,
        peak as f64 / 1024.0 / apps as f64
    );
}
