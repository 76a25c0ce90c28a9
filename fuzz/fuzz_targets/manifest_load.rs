//! The manifest loader on arbitrary bytes: parse, interpolate, check, validate, lower. It must
//! return a result (a desired state or diagnostics) for every input, in bounded time and memory,
//! and the diagnostics must render.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // One variable set, one unset: interpolation takes both paths.
    let env = |name: &str| (name == "HOST").then(|| "crm.example.com".to_string());
    let path = std::path::Path::new("fuzz/manifest.yaml");
    if let Err(invalid) = appreg::manifest::load_bytes(path, data, &env) {
        for diagnostic in invalid.diagnostics.iter().take(3) {
            let _ = appreg::output::diagnostics::render(diagnostic, false);
        }
    }
});
