//! The saved-plan reader `appreg apply PLANFILE` uses, on arbitrary bytes; a plan it accepts
//! must render in every view and compare against itself without panicking.
#![no_main]

use appreg::engine::plan::Plan;
use appreg::output::plan::{Style, human, markdown};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(plan) = Plan::from_json(text) {
        let _ = human(&plan, Style { color: true });
        let _ = markdown(&plan);
        assert_eq!(appreg::engine::stale_reason(&plan, &plan), None);
        let again = serde_json::to_string(&plan).expect("a plan serializes");
        assert!(Plan::from_json(&again).is_ok(), "a plan survives a JSON round trip");
    }
});
