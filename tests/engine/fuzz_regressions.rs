//! The fuzz targets' loaders (fuzz/fuzz_targets/) on every committed seed: crashing inputs the
//! fuzzer found, once fixed, and a handful of interesting corpus entries. Runs in the ordinary
//! `cargo test`, so a regression shows without cargo-fuzz. See docs/fuzzing.md.
//!
//! tests/fuzz-seeds/manifest_load/*: `appreg::manifest::load_bytes`, then rendering the first
//! diagnostics, as the `manifest_load` target does.
//! tests/fuzz-seeds/plan_file/*: `Plan::from_json`, then the human and Markdown views, the stale
//! check against itself and a JSON round trip, as the `plan_file` target does.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use appreg::engine::plan::Plan;
use appreg::output::plan::{Style, human, markdown};

/// Slowest a single seed may be (debug build, shared machine).
const PER_SEED: Duration = Duration::from_secs(10);

fn seeds(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-seeds")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files
}

/// The same closure as the fuzz target, on one input.
fn manifest_load(data: &[u8]) {
    let env = |name: &str| (name == "HOST").then(|| "crm.example.com".to_string());
    let path = Path::new("fuzz/manifest.yaml");
    if let Err(invalid) = appreg::manifest::load_bytes(path, data, &env) {
        for diagnostic in invalid.diagnostics.iter().take(3) {
            let _ = appreg::output::diagnostics::render(diagnostic, false);
        }
    }
}

fn plan_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(plan) = Plan::from_json(text) {
        let _ = human(&plan, Style { color: true });
        let _ = markdown(&plan);
        assert_eq!(appreg::engine::stale_reason(&plan, &plan), None);
        let again = serde_json::to_string(&plan).expect("a plan serializes");
        assert!(
            Plan::from_json(&again).is_ok(),
            "a plan survives a JSON round trip"
        );
    }
}

fn run(target: &str, check: fn(&[u8])) {
    for seed in seeds(target) {
        let data = std::fs::read(&seed).unwrap();
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{} panics on {}", target, seed.display());
        assert!(
            started.elapsed() < PER_SEED,
            "{target} took {:?} on {}",
            started.elapsed(),
            seed.display()
        );
    }
}

#[test]
fn manifest_load_seeds() {
    run("manifest_load", manifest_load);
}

#[test]
fn plan_file_seeds() {
    run("plan_file", plan_file);
}

#[test]
fn committed_plan_seeds_are_accepted() {
    // Why: the valid plans among the seeds must load, or the plan_file target would only ever
    // see rejections from them.
    for seed in seeds("plan_file") {
        let name = seed.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("valid-") {
            let text = std::fs::read_to_string(&seed).unwrap();
            assert!(
                Plan::from_json(&text).is_ok(),
                "{name}: {:?}",
                Plan::from_json(&text).err()
            );
        }
    }
}
